import Collector
@testable import Config
import Exporters
import Foundation
import Logging
import Pipeline
import Receivers
import Synchronization
import Testing
import Timeline

// MARK: - Fixtures

extension CollectorPlan {
    /// The settings the first `postgres` exporter was built with.
    func postgresConfig() throws -> PostgresExporterConfig? {
        guard let component = exporters.values.sorted(by: { $0.id < $1.id }).first(where: { $0.type == "postgres" }),
            case .primary(let exporter) = try component.build(BuildContext(id: component.id, logger: Logger(label: "test")))
        else { return nil }
        return (exporter as? PostgresExporter)?.config
    }
}

private let file = "test.yaml"
/// SHA-256 of `wf_local_development_token` (as in configs/local.yaml).
private let tokenSHA = "7995a2192a0e14c69a1e2a4f19d6068a8c186338e289aaf5229eeca574f4dc3c"
private let localToken = "wf_local_development_token"
private let dsn = "postgres://audit:s3cret@db.internal:5432/audit"
/// python3: hashlib.sha256(dsn.encode()).hexdigest()[:8]
private let dsnFingerprint = "sha256:8243b3c6"

private let defaultReceiver = """
      ingest_http:
        endpoint: 127.0.0.1:4320
        tokens:
          - workflow: local-dev
            token_sha256: \(tokenSHA)
    """

private let defaultPipelines = """
        audit:
          receivers: [ingest_http]
          exporters: [postgres]
    """

/// A configuration modelled on configs/local.yaml, with each part replaceable.
private func config(
    receivers: String = defaultReceiver, postgres: String = "    connections: 2",
    extraExporters: String = "", pipelines: String = defaultPipelines, extra: String = ""
) -> String {
    """
    receivers:
    \(receivers)
    exporters:
      postgres:
    \(postgres)
    \(extraExporters)
    service:
      pipelines:
    \(pipelines)
    \(extra)
    """
}

private func plan(_ yaml: String, env: [String: String] = [:]) throws -> CollectorPlan {
    try CollectorPlan.parse(yaml: yaml, file: file, environment: env)
}

/// Parses `yaml` expecting a ConfigError; checks the properties every error must have.
private func configError(
    _ yaml: String, env: [String: String] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> ConfigError {
    let error = try #require(throws: ConfigError.self, sourceLocation: sourceLocation) {
        try CollectorPlan.parse(yaml: yaml, file: file, environment: env)
    }
    #expect(error.file == file, sourceLocation: sourceLocation)
    #expect(!error.fix.isEmpty, "no fix in \(error)", sourceLocation: sourceLocation)
    #expect(!error.problem.isEmpty, sourceLocation: sourceLocation)
    #expect(error.description.contains(error.key), sourceLocation: sourceLocation)
    return error
}

private func resolved(_ plan: CollectorPlan, _ key: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ResolvedValue {
    try #require(plan.resolved.first { $0.key == key }, "no resolved value for \(key)", sourceLocation: sourceLocation)
}

/// A standalone section (for reading one component's settings directly).
private func section(
    _ yaml: String, path: String = "receivers.ingest_http", env: [String: String] = [:],
    log: ProvenanceLog = ProvenanceLog()
) throws -> ConfigSection {
    try ConfigSection(path: path, file: file, value: ConfigValue.parse(yaml: yaml, file: file), environment: env, log: log)
}

// MARK: - Valid configurations

@Suite("CollectorPlan: valid configurations")
struct ValidConfigTests {
    @Test func minimalConfigParses() throws {
        let plan = try plan(config())
        #expect(plan.file == file)
        #expect(plan.pipelines.count == 1)
        let pipeline = try #require(plan.pipelines.first)
        #expect(pipeline.name == "audit")
        #expect(pipeline.receivers == ["ingest_http"])
        #expect(pipeline.processors == [])
        #expect(pipeline.exporters == ["postgres"])
        #expect(plan.receivers["ingest_http"]?.type == "ingest_http")
        #expect(plan.exporters["postgres"]?.type == "postgres")
        #expect(plan.processors.isEmpty)
        #expect(plan.logLevel == .info)
        #expect(try plan.postgresConfig()?.connections == 2)
    }

    @Test func localYAMLFromTheRepositoryParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("configs/local.yaml").path
        let plan = try CollectorPlan.load(file: path, environment: ["DATABASE_URL": dsn])
        #expect(plan.file == path)
        #expect(plan.pipelines.map(\.exporters) == [["postgres", "debug", "platform_bridge"]])
        #expect(try plan.postgresConfig()?.dsn == dsn)
        #expect(try resolved(plan, "exporters.debug.stream").display == "stderr")
        #expect(try resolved(plan, "receivers.ingest_http.tokens[0].token_sha256").display == WorkflowTokens.sha256Hex(localToken))
        #expect(plan.pipelines.map(\.processors) == [["size_cap", "sanitize", "seq", "chain"]])
        // The chain secret falls back to the local-only default and is shown only as a fingerprint.
        #expect(try resolved(plan, "processors.chain.secret").display == ConfigSection.fingerprint("local-development-secret-change-me"))
    }

    @Test("every file in configs/ loads, given the environment it documents")
    func everyShippedConfigLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["local.yaml", "production.yaml"])
        let environment = [
            "DATABASE_URL": dsn, "GOVERNANCE_AUDIT_SECRET": "a-long-enough-audit-secret",
            "INGEST_TOKEN_BILLING": "wf_billing_token_from_the_environment",
        ]
        for file in files {
            let plan = try CollectorPlan.load(file: directory.appendingPathComponent(file).path, environment: environment)
            #expect(plan.pipelines.count == 1, "\(file)")
            #expect(
                !plan.resolved.contains { $0.display.contains("wf_billing_token") || $0.display.contains("a-long-enough-audit-secret") },
                "\(file): a secret is shown in print-config")
        }
    }

    @Test func missingFileIsAConfigError() throws {
        let error = try #require(throws: ConfigError.self) {
            try CollectorPlan.load(file: "/nonexistent/collector.yaml", environment: [:])
        }
        #expect(error.key == "(file)")
        #expect(error.problem.contains("cannot be read"))
        #expect(!error.fix.isEmpty)
    }

    @Test func componentsCanBeNamedTypeSlashName() throws {
        let plan = try plan(
            config(
                receivers: defaultReceiver
                    + "\n  ingest_http/second:\n    endpoint: 127.0.0.1:0\n    tokens:\n      - {workflow: other, token_sha256: \(tokenSHA)}",
                pipelines: defaultPipelines + "\n    second:\n      receivers: [ingest_http/second]\n      exporters: [postgres]"))
        #expect(plan.receivers["ingest_http/second"]?.type == "ingest_http")
        #expect(plan.pipelines.map(\.name) == ["audit", "second"])
    }

    @Test func logLevelFromFileOrEnvironment() throws {
        #expect(try plan(config(), env: ["GOVERNANCE_LOG_LEVEL": "DEBUG"]).logLevel == .debug)
        let fromFile = try plan(config(extra: "  telemetry:\n    logs:\n      level: warning"), env: ["GOVERNANCE_LOG_LEVEL": "debug"])
        #expect(fromFile.logLevel == .warning)
        let error = try configError(config(extra: "  telemetry:\n    logs:\n      level: loud"))
        #expect(error.key == "service.telemetry.logs.level")
        #expect(error.problem.contains("loud"))
    }

    @Test func logFormatFromFileOrEnvironment() throws {
        #expect(try plan(config()).logFormat == .text)
        #expect(try plan(config(), env: ["GOVERNANCE_LOG_FORMAT": "JSON"]).logFormat == .json)
        #expect(try plan(config(extra: "  telemetry:\n    logs:\n      format: json")).logFormat == .json)
        let error = try configError(config(extra: "  telemetry:\n    logs:\n      format: xml"))
        #expect(error.key == "service.telemetry.logs.format")
        #expect(error.fix == "use text or json")
    }
}

/// Collects what a handler writes.
final class LineSink: Sendable {
    let bytes = Mutex<[UInt8]>([])
    var lines: [String] { bytes.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init) }
}

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("one parseable object per line: time, level, event, logger, every metadata field; below the level, nothing")
    func line() throws {
        let sink = LineSink()
        var logger = Logger(label: "governance-collector") { label in
            JSONLogHandler(label: label, level: .info) { line in sink.bytes.withLock { $0 += line } }
        }
        logger[metadataKey: "component"] = "platform_bridge"
        logger.warning("platform.bridge_enabled", metadata: ["url": "https://x/\"q\"\nnext", "sizes": ["1", "2"]])
        logger.debug("not.shown")
        #expect(sink.lines.count == 1)
        let object = try JSONParser.parse(try #require(sink.lines.first))
        #expect(object["event"] == .string("platform.bridge_enabled"))
        #expect(object["level"] == .string("warning"))
        #expect(object["logger"] == .string("governance-collector"))
        #expect(object["component"] == .string("platform_bridge"))
        #expect(object["url"] == .string("https://x/\"q\"\nnext"))
        #expect(object["sizes"] == .array([.string("1"), .string("2")]))
        #expect(object["time"]?.stringValue.map { $0.hasSuffix("Z") && Timestamp(iso8601: $0) != nil } == true)
    }
}

// MARK: - Precedence and provenance

@Suite("CollectorPlan: precedence and provenance")
struct ProvenanceTests {
    @Test func dsnFromEnvironmentIsShownOnlyAsFingerprint() throws {
        let plan = try plan(config(), env: ["DATABASE_URL": dsn])
        let value = try resolved(plan, "exporters.postgres.dsn")
        #expect(value.source == .environment)
        #expect(value.detail == "DATABASE_URL")
        #expect(value.display == dsnFingerprint)
        #expect(value.display == ConfigSection.fingerprint(dsn))
        #expect(value.display.range(of: #"^sha256:[0-9a-f]{8}$"#, options: .regularExpression) != nil)
        for entry in plan.resolved {
            #expect(!entry.display.contains("s3cret") && !(entry.detail ?? "").contains("s3cret"), "\(entry.key) leaks the DSN")
        }
        #expect(try plan.postgresConfig()?.dsn == dsn)
    }

    @Test func fileValueWinsOverEnvironment() throws {
        let fileDSN = "postgres://file-user@file-host/filedb"
        let plan = try plan(config(postgres: "    dsn: \(fileDSN)"), env: ["DATABASE_URL": dsn])
        let value = try resolved(plan, "exporters.postgres.dsn")
        #expect(value.source == .file)
        #expect(value.detail == nil)
        #expect(value.display == ConfigSection.fingerprint(fileDSN))
        #expect(!value.display.contains("file-host"))
        #expect(try plan.postgresConfig()?.dsn == fileDSN)
    }

    @Test func emptyEnvironmentValueCountsAsUnset() throws {
        let plan = try plan(config(), env: ["DATABASE_URL": ""])
        #expect(try resolved(plan, "exporters.postgres.dsn").source == .default)
    }

    @Test func defaultsUsedWhenNeitherFileNorEnvironment() throws {
        let plan = try plan(config(postgres: "    {}"))
        let dsnValue = try resolved(plan, "exporters.postgres.dsn")
        #expect(dsnValue.source == .default)
        #expect(dsnValue.display == "")
        let connections = try resolved(plan, "exporters.postgres.connections")
        #expect(connections.source == .default)
        #expect(connections.display == "2")
        #expect(try resolved(plan, "exporters.postgres.migrate").display == "true")
        #expect(try resolved(plan, "exporters.postgres.max_reconnect_backoff").display == "5.0")
        let endpoint = try resolved(plan, "receivers.ingest_http.endpoint")
        #expect(endpoint.source == .file)
        let pg = try #require(try plan.postgresConfig())
        #expect(pg.dsn == "")
        #expect(pg.connections == 2)
        #expect(pg.maxBatchEvents == 5000)
        #expect(pg.migrate == true)
    }

    @Test func resolvedValuesAreInReadingOrder() throws {
        let keys = try plan(config()).resolved.map(\.key)
        let endpoint = try #require(keys.firstIndex(of: "receivers.ingest_http.endpoint"))
        let dsnIndex = try #require(keys.firstIndex(of: "exporters.postgres.dsn"))
        let level = try #require(keys.firstIndex(of: "service.telemetry.logs.level"))
        #expect(endpoint < dsnIndex && dsnIndex < level)
    }

    @Test func envExpansion() throws {
        let plan = try plan(
            config(postgres: "    connections: ${env:PG_CONNS}\n    dsn: postgres://u:${env:PGPASS}@h/db"),
            env: ["PG_CONNS": "7", "PGPASS": "pw"])
        let connections = try resolved(plan, "exporters.postgres.connections")
        #expect(connections.display == "7")
        #expect(connections.source == .file)
        #expect(connections.detail == "${env:PG_CONNS}")
        let pg = try #require(try plan.postgresConfig())
        #expect(pg.connections == 7)
        #expect(pg.dsn == "postgres://u:pw@h/db")
        #expect(try resolved(plan, "exporters.postgres.dsn").detail == "${env:PGPASS}")
    }

    @Test(
        "${env:NAME:-fallback}",
        arguments: [
            ([String: String](), 3), (["PG_CONNS": ""], 3), (["PG_CONNS": "5"], 5),
        ])
    func envExpansionWithFallback(_ env: [String: String], _ expected: Int) throws {
        let plan = try plan(config(postgres: "    connections: ${env:PG_CONNS:-3}"), env: env)
        #expect(try plan.postgresConfig()?.connections == expected)
        #expect(try resolved(plan, "exporters.postgres.connections").display == String(expected))
    }

    @Test func fallbackMayBeEmptyOrContainColons() throws {
        let plan = try plan(config(postgres: "    dsn: ${env:NOPE:-postgres://h:5432/db}${env:ALSO_NOPE:-}"))
        #expect(try plan.postgresConfig()?.dsn == "postgres://h:5432/db")
    }

    @Test func unsetEnvReferenceIsAnErrorNamingTheKey() throws {
        let error = try configError(config(postgres: "    connections: ${env:PG_CONNS}"))
        #expect(error.key == "exporters.postgres.connections")
        #expect(error.problem.contains("PG_CONNS"))
        #expect(error.problem.contains("not set"))
        #expect(error.fix.contains("${env:PG_CONNS:-"))
    }

    @Test func malformedReferencesAreErrors() throws {
        let unterminated = try configError(config(postgres: "    dsn: \"${env:X\""))
        #expect(unterminated.key == "exporters.postgres.dsn")
        #expect(unterminated.problem.contains("unterminated"))
        let other = try configError(config(postgres: "    dsn: \"${file:/etc/x}\""))
        #expect(other.key == "exporters.postgres.dsn")
        #expect(other.problem.contains("only `${env:NAME}`"))
    }
}

// MARK: - Typed values

@Suite("CollectorPlan: typed values")
struct TypedValueTests {
    @Test func unknownKeySuggestsTheClosestKnownOne() throws {
        let error = try configError(config(postgres: "    connectoins: 4"))
        #expect(error.key == "exporters.postgres.connectoins")
        #expect(error.problem.contains("not a known setting"))
        #expect(error.fix.contains("`connections`"))
    }

    @Test func unknownKeyFarFromAnyKnownOneListsKnownSettings() throws {
        let error = try configError(config(postgres: "    completely_different: 1"))
        #expect(error.key == "exporters.postgres.completely_different")
        #expect(error.fix.contains("known settings here"))
        #expect(error.fix.contains("max_batch_events"))
    }

    @Test func unknownTopLevelKey() throws {
        let error = try configError(config() + "\nextensions: {}")
        #expect(error.key == "extensions")
        #expect(error.problem.contains("not a known setting"))
    }

    @Test func invalidBoolNamesTheKey() throws {
        let error = try configError(config(postgres: "    migrate: maybe"))
        #expect(error.key == "exporters.postgres.migrate")
        #expect(error.problem.contains("`maybe`"))
        #expect(error.problem.contains("not a boolean"))
        #expect(error.fix.contains("true/false"))
    }

    @Test(
        "booleans from the environment",
        arguments: [
            ("yes", true), ("on", true), ("1", true), ("true", true), ("YES", true), (" On ", true),
            ("no", false), ("off", false), ("0", false), ("false", false), ("False", false),
        ])
    func envBoolValues(_ text: String, _ expected: Bool) throws {
        let plan = try plan(config(postgres: "    migrate: ${env:PG_MIGRATE}"), env: ["PG_MIGRATE": text])
        #expect(try plan.postgresConfig()?.migrate == expected)
        #expect(try resolved(plan, "exporters.postgres.migrate").display == String(expected))

        // And through a getter's own environment variable.
        let log = ProvenanceLog()
        let s = try section("{}", path: "x", env: ["FLAG": text], log: log)
        #expect(try s.bool("flag", env: "FLAG", default: !expected) == expected)
        #expect(log.values.first?.source == .environment)
        #expect(log.values.first?.detail == "FLAG")
    }

    @Test func invalidBoolFromEnvironmentNamesTheVariable() throws {
        let s = try section("{}", path: "x", env: ["FLAG": "maybe"])
        let error = try #require(throws: ConfigError.self) { try s.bool("flag", env: "FLAG", default: true) }
        #expect(error.key == "x.flag")
        #expect(error.problem.contains("(from FLAG)"))
        #expect(!error.fix.isEmpty)
    }

    @Test func yamlBooleansAreAccepted() throws {
        #expect(try plan(config(postgres: "    migrate: false")).postgresConfig()?.migrate == false)
        #expect(try plan(config(postgres: "    migrate: no")).postgresConfig()?.migrate == false)
    }

    @Test func integersOutOfRangeOrNotNumbers() throws {
        let range = try configError(config(postgres: "    connections: 65"))
        #expect(range.key == "exporters.postgres.connections")
        #expect(range.problem.contains("outside 1...64"))
        let text = try configError(config(postgres: "    connections: two"))
        #expect(text.problem.contains("not a whole number"))
    }

    @Test func listWhereAValueIsExpected() throws {
        let error = try configError(config(postgres: "    dsn: [a, b]"))
        #expect(error.key == "exporters.postgres.dsn")
        #expect(error.problem.contains("single value"))
    }

    @Test func sizesAndDurations() throws {
        let s = try section("{size: 4 MiB, n: 1_000, d: 250ms, e: 2m, f: '1.5'}", path: "x")
        #expect(try s.int("size", default: 0, range: 0...Int.max) == 4 << 20)
        #expect(try s.int("n", default: 0, range: 0...Int.max) == 1000)
        #expect(try s.double("d", default: 0, range: 0...1000) == 0.25)
        #expect(try s.double("e", default: 0, range: 0...1000) == 120)
        #expect(try s.double("f", default: 0, range: 0...1000) == 1.5)
    }

    @Test func editDistance() {
        #expect(ConfigSection.distance("connectoins", "connections") == 2)
        #expect(ConfigSection.distance("", "abc") == 3)
        #expect(ConfigSection.distance("abc", "") == 3)
        #expect(ConfigSection.distance("migrate", "migrate") == 0)
    }
}

// MARK: - Pipelines and components

@Suite("CollectorPlan: pipelines and components")
struct PipelineConfigTests {
    @Test func pipelineWithoutPostgresExporterHasNoPrimary() throws {
        let error = try configError(
            config(
                extraExporters: "  debug:\n    stream: stderr",
                pipelines: "    audit:\n      receivers: [ingest_http]\n      exporters: [debug]"))
        #expect(error.key == "service.pipelines.audit.exporters")
        #expect(error.problem.contains("no primary exporter"))
        #expect(error.fix.contains("postgres"))
    }

    @Test func pipelineWithTwoPostgresExporters() throws {
        let error = try configError(
            config(
                extraExporters: "  postgres/replica:\n    connections: 1",
                pipelines: "    audit:\n      receivers: [ingest_http]\n      exporters: [postgres, postgres/replica]"))
        #expect(error.key == "service.pipelines.audit.exporters")
        #expect(error.problem.contains("2 primary exporters"))
    }

    @Test func pipelineNamingAnUndefinedReceiver() throws {
        let error = try configError(config(pipelines: "    audit:\n      receivers: [otlp]\n      exporters: [postgres]"))
        #expect(error.key == "service.pipelines.audit.receivers")
        #expect(error.problem.contains("`otlp`"))
        #expect(error.problem.contains("not defined"))
    }

    @Test func pipelineNamingAnUndefinedExporterOrProcessor() throws {
        let exporter = try configError(config(pipelines: "    audit:\n      receivers: [ingest_http]\n      exporters: [postgres, debug]"))
        #expect(exporter.key == "service.pipelines.audit.exporters")
        #expect(exporter.problem.contains("`debug`"))
        let processor = try configError(config(pipelines: defaultPipelines + "\n      processors: [redaction]"))
        #expect(processor.key == "service.pipelines.audit.processors")
        #expect(processor.problem.contains("`redaction`"))
    }

    @Test func pipelineWithoutReceiversOrListingOneTwice() throws {
        let empty = try configError(config(pipelines: "    audit:\n      receivers: []\n      exporters: [postgres]"))
        #expect(empty.key == "service.pipelines.audit.receivers")
        #expect(empty.problem.contains("empty"))
        let twice = try configError(config(pipelines: "    audit:\n      receivers: [ingest_http, ingest_http]\n      exporters: [postgres]"))
        #expect(twice.key == "service.pipelines.audit.receivers")
        #expect(twice.problem.contains("twice"))
    }

    @Test func noPipelines() throws {
        let error = try configError(config(pipelines: "    {}"))
        #expect(error.key == "service.pipelines")
        #expect(error.problem.contains("no pipeline"))
    }

    @Test func unknownKeyInAPipeline() throws {
        let error = try configError(config(pipelines: defaultPipelines + "\n      exporter: [postgres]"))
        #expect(error.key == "service.pipelines.audit.exporter")
        #expect(error.fix.contains("`exporters`"))
    }

    @Test func unknownComponentType() throws {
        let error = try configError(config(extraExporters: "  kafka:\n    brokers: [a]"))
        #expect(error.key == "exporters.kafka")
        #expect(error.problem.contains("not a known component type"))
        #expect(error.fix.contains("debug, otlp, otlp_grpc, otlp_http, otlphttp, platform_bridge, postgres"))
        let receiver = try configError(config(receivers: defaultReceiver + "\n  zipkin/spans: {}"))
        #expect(receiver.key == "receivers.zipkin/spans")
        #expect(receiver.fix.contains("ingest_http"))
    }

    @Test("the otlp receiver and the gRPC exporter name the key and the fix")
    func otlpMistakes() throws {
        let grpcToken = "{workflow: w, token_sha256: \(String(repeating: "a", count: 64))}"
        let none = try configError(config(receivers: defaultReceiver + "\n  otlp:\n    protocols: {}"))
        #expect(none.key == "receivers.otlp.protocols")
        #expect(none.fix.contains("grpc: {endpoint: 127.0.0.1:4317}"))
        let hostname = try configError(
            config(
                receivers: defaultReceiver + "\n  otlp:\n    protocols:\n      grpc: {endpoint: 'collector.internal:4317', tokens: [\(grpcToken)]}"))
        #expect(hostname.key == "receivers.otlp.protocols.grpc.endpoint")
        #expect(hostname.problem.contains("binds an IP address"))
        let typo = try configError(
            config(receivers: defaultReceiver + "\n  otlp:\n    protocols:\n      grpc: {max_recv_msg_size: 8, tokens: [\(grpcToken)]}"))
        #expect(typo.key == "receivers.otlp.protocols.grpc.max_recv_msg_size")
        #expect(typo.fix.contains("max_recv_msg_size_mib"))
        let scheme = try configError(config(extraExporters: "  otlp_grpc:\n    endpoint: 'collector:4317'"))
        #expect(scheme.key == "exporters.otlp_grpc.endpoint")
        #expect(scheme.problem.contains("needs http:// or https://"))
        let json = try configError(config(extraExporters: "  otlp:\n    endpoint: 'http://collector:4317'\n    encoding: json"))
        #expect(json.key == "exporters.otlp.encoding")
        #expect(json.fix.contains("gRPC always sends protobuf"))
        let signal = try configError(config(extraExporters: "  otlp_http:\n    signal: metrics"))
        #expect(signal.key == "exporters.otlp_http.signal")
        let traces = try plan(
            config(extraExporters: "  otlp_http:\n    signal: traces"), env: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"])
        #expect(try resolved(traces, "exporters.otlp_http.endpoint").display == "http://collector:4318/v1/traces")
    }

    @Test("loopback egress is refused at start-up unless allow_loopback: true, naming the setting")
    func loopbackEgressOnlyOnRequest() throws {
        let bridge =
            "  platform_bridge:\n    platform_bridge_enabled: true\n    platform_ingest_token: wf_x\n    platform_ingest_url: http://127.0.0.1:4320/api/v1/ingest/events"
        let webhook = "  budget_webhook:\n    alert_webhook_url: http://localhost:9000/hook\n    alert_webhook_secret: s"
        let otlpHTTP = "  otlp_http:\n    endpoint: http://[::1]:4318/v1/logs"
        let otlpGRPC = "  otlp_grpc:\n    endpoint: http://127.0.0.1:4317"
        for (exporter, key) in [
            (bridge, "exporters.platform_bridge.platform_ingest_url"), (webhook, "exporters.budget_webhook.alert_webhook_url"),
            (otlpHTTP, "exporters.otlp_http.endpoint"), (otlpGRPC, "exporters.otlp_grpc.endpoint"),
        ] {
            let error = try configError(config(extraExporters: exporter))
            #expect(error.key == key)
            #expect(error.problem.contains("allow_loopback: true"), "\(error)")
            #expect(error.fix.contains("allow_loopback: true"), "\(error)")
            _ = try plan(config(extraExporters: exporter + "\n    allow_loopback: true"))
        }
    }

    @Test func unknownProcessorType() throws {
        let error = try configError(config(extra: "processors:\n  compress: {}"))
        #expect(error.key == "processors.compress")
        #expect(error.problem.contains("not a known component type"))
        #expect(!error.fix.isEmpty)
    }

    @Test func receiverUsedByTwoPipelines() throws {
        let error = try configError(
            config(
                pipelines: defaultPipelines + "\n    second:\n      receivers: [ingest_http]\n      exporters: [postgres]"))
        #expect(error.key == "service.pipelines.second.receivers")
        #expect(error.problem.contains("already feeds pipeline `audit`"))
        #expect(error.fix.contains("ingest_http/second"))
    }

    @Test func invalidYAML() throws {
        let error = try configError("receivers:\n  ingest_http: [unclosed\nexporters: {")
        #expect(error.key == "(document)")
        #expect(error.problem.contains("not valid YAML"))
    }

    @Test func documentThatIsNotAMapping() throws {
        let error = try configError("- a\n- b\n")
        #expect(error.key == "(document)")
        #expect(error.problem.contains("must be a mapping"))
    }

    @Test func emptyDocumentHasNoPipelines() throws {
        let error = try configError("")
        #expect(error.key == "service.pipelines")
    }

    @Test func yamlAliasesResolveToTheAnchoredValue() throws {
        // Yams' composer resolves aliases itself, so an alias reads as a copy of its anchor.
        let plan = try plan(config(postgres: "    connections: &n 3\n    max_batch_events: *n"))
        let pg = try #require(try plan.postgresConfig())
        #expect(pg.connections == 3)
        #expect(pg.maxBatchEvents == 3)
        let undefined = try configError(config(postgres: "    connections: *nope"))
        #expect(undefined.key == "(document)")
    }

    @Test func duplicateKeysAreRefused() throws {
        let error = try configError(config(postgres: "    connections: 2\n    connections: 3"))
        // Yams refuses them before ConfigValue's own check: the error names the document and the key.
        #expect(error.key == "(document)")
        #expect(error.problem.contains("duplicated key"), "\(error)")
        #expect(error.problem.contains("connections"), "\(error)")
    }

    @Test func configValueEqualityIgnoresLines() throws {
        let a = try ConfigValue.parse(yaml: "a: [1, {b: c}]\nd: ~", file: file)
        let b = try ConfigValue.parse(yaml: "\n\na: [1, {b: c}]\nd: null", file: file)
        #expect(a == b)
        #expect(a != (try ConfigValue.parse(yaml: "a: [1, {b: x}]\nd: ~", file: file)))
        #expect(try ConfigValue.parse(yaml: "k: ''", file: file) == .map([(key: "k", value: .scalar("", line: 0))], line: 0))
    }
}

// MARK: - ingest_http settings and tokens

@Suite("ingest_http configuration")
struct IngestHTTPConfigTests {
    @Test func missingTokensIsAnError() throws {
        let error = try configError(config(receivers: "  ingest_http:\n    endpoint: 127.0.0.1:4320"))
        #expect(error.key == "receivers.ingest_http.tokens")
        #expect(error.problem.contains("no workflow token"))
        #expect(error.fix.contains("token new"))
        let empty = try configError(config(receivers: "  ingest_http:\n    tokens: []"))
        #expect(empty.key == "receivers.ingest_http.tokens")
        #expect(empty.fix.contains("token new"))
    }

    @Test func tokenEntryWithNeitherTokenNorDigest() throws {
        let error = try configError(config(receivers: "  ingest_http:\n    tokens:\n      - workflow: a"))
        #expect(error.key == "receivers.ingest_http.tokens[0].token_sha256")
        #expect(error.fix.contains("token new"))
    }

    @Test(
        "token_sha256 must be 64 hex digits",
        arguments: [
            String(tokenSHA.dropLast()), tokenSHA + "0", String(repeating: "g", count: 64),
            String(repeating: "+f", count: 32), String(repeating: "-0", count: 32),
        ])
    func badDigest(_ digest: String) throws {
        let error = try configError(config(receivers: "  ingest_http:\n    tokens:\n      - {workflow: a, token_sha256: \"\(digest)\"}"))
        #expect(error.key == "receivers.ingest_http.tokens[0].token_sha256")
        #expect(error.problem.contains("64 hexadecimal digits"))
    }

    @Test func badWorkflowName() throws {
        let error = try configError(config(receivers: "  ingest_http:\n    tokens:\n      - {workflow: \"has space\", token_sha256: \(tokenSHA)}"))
        #expect(error.key == "receivers.ingest_http.tokens[0].workflow")
        #expect(error.problem.contains("has space"))
    }

    @Test func tokenFromEnvironmentWorksAndNeverAppearsInResolved() throws {
        let token = "wf_SecretTokenValue1234567890"
        let receivers = "  ingest_http:\n    tokens:\n      - workflow: payments\n        token: ${env:TOK}"
        let plan = try plan(config(receivers: receivers), env: ["TOK": token])
        let value = try resolved(plan, "receivers.ingest_http.tokens[0].token")
        #expect(value.display == ConfigSection.fingerprint(token))
        #expect(value.detail == "${env:TOK}")
        for entry in plan.resolved {
            #expect(!entry.display.contains("SecretTokenValue"), "\(entry.key) shows the token")
            #expect(!(entry.detail ?? "").contains("SecretTokenValue"), "\(entry.key) shows the token")
        }

        // The same section, read directly, authenticates that token.
        let ingest = try IngestHTTPConfig.read(section("tokens:\n  - workflow: payments\n    token: ${env:TOK}", env: ["TOK": token]))
        #expect(ingest.listener.tokens.workflows == ["payments"])
        #expect(ingest.listener.tokens.workflow(forAuthorization: "Bearer \(token)") == "payments")
    }

    @Test func plainTokenWrittenInTheFileIsFingerprintedToo() throws {
        let token = "wf_PlainInFileToken_0123456789"
        let plan = try plan(config(receivers: "  ingest_http:\n    tokens:\n      - {workflow: w, token: \(token)}"))
        #expect(try resolved(plan, "receivers.ingest_http.tokens[0].token").display == ConfigSection.fingerprint(token))
        #expect(!plan.resolved.contains { $0.display.contains("PlainInFileToken") })
    }

    @Test("tokens that are not wf_ tokens of 20+ characters", arguments: ["wf_short", "xx_0123456789abcdefghij"])
    func badPlainToken(_ token: String) throws {
        let error = try configError(
            config(receivers: "  ingest_http:\n    tokens:\n      - workflow: w\n        token: ${env:TOK}"),
            env: ["TOK": token])
        #expect(error.key == "receivers.ingest_http.tokens[0].token")
        #expect(error.problem.contains("wf_"))
        #expect(!error.problem.contains(token))
        #expect(!error.description.contains(token))
    }

    @Test func tokenAndDigestBothSet() throws {
        let error = try configError(
            config(receivers: "  ingest_http:\n    tokens:\n      - {workflow: w, token: wf_0123456789abcdefghij, token_sha256: \(tokenSHA)}"))
        #expect(error.key == "receivers.ingest_http.tokens[0].token")
        #expect(error.problem.contains("both set"))
    }

    @Test(
        "endpoints that are not host:port",
        arguments: ["localhost", "127.0.0.1:", ":4320", "127.0.0.1:65536", "127.0.0.1:http", "[::1]", "[::1]4320", "::1", "::1:4320"])
    func badEndpoint(_ endpoint: String) throws {
        let error = try configError(config(receivers: defaultReceiver.replacingOccurrences(of: "127.0.0.1:4320", with: "\"\(endpoint)\"")))
        #expect(error.key == "receivers.ingest_http.endpoint")
        #expect(error.problem.contains(endpoint))
        #expect(error.fix.contains("host:port"))
    }

    @Test func endpointFromEnvironmentAndIPv6() throws {
        let base = "tokens:\n  - {workflow: w, token_sha256: \(tokenSHA)}"
        let fromEnv = try IngestHTTPConfig.read(section(base, env: ["GOVERNANCE_INGEST_ENDPOINT": "0.0.0.0:8080"]))
        #expect(fromEnv.listener.host == "0.0.0.0")
        #expect(fromEnv.listener.port == 8080)
        let v6 = try IngestHTTPConfig.read(section("endpoint: \"[::1]:0\"\n" + base))
        #expect(v6.listener.host == "::1")
        #expect(v6.listener.port == 0)
        let defaults = try IngestHTTPConfig.read(section(base))
        #expect(defaults.listener.host == "127.0.0.1")
        #expect(defaults.listener.port == 4320)
        #expect(defaults.listener.tlsCertFile == nil)
    }

    @Test func tlsWithOnlyCertFile() throws {
        let error = try configError(config(receivers: defaultReceiver + "\n    tls:\n      cert_file: /tmp/cert.pem"))
        #expect(error.key == "receivers.ingest_http.tls.key_file")
        #expect(error.problem.contains("missing while cert_file is set"))
        #expect(error.fix.contains("both"))
    }

    @Test func tlsWithOnlyKeyFile() throws {
        let error = try configError(config(receivers: defaultReceiver + "\n    tls:\n      key_file: /tmp/key.pem"))
        #expect(error.key == "receivers.ingest_http.tls.cert_file")
        #expect(error.problem.contains("missing while key_file is set"))
    }

    @Test func tlsWithUnreadableFiles() throws {
        let error = try configError(
            config(receivers: defaultReceiver + "\n    tls:\n      cert_file: /nonexistent/cert.pem\n      key_file: /nonexistent/key.pem"))
        #expect(error.key == "receivers.ingest_http.tls.cert_file")
        #expect(error.problem.contains("cannot be read"))
    }
}

// MARK: - WorkflowTokens

@Suite("WorkflowTokens")
struct WorkflowTokensTests {
    let tokens = WorkflowTokens([
        (workflow: "local-dev", sha256: hexBytes(tokenSHA)),
        (workflow: "payments", sha256: hexBytes(WorkflowTokens.sha256Hex("wf_payments_token_0123456789"))),
    ])

    @Test func sha256HexMatchesTheLocalConfig() {
        #expect(WorkflowTokens.sha256Hex(localToken) == tokenSHA)
    }

    @Test func bearerTokenFindsItsWorkflow() {
        #expect(tokens.workflow(forAuthorization: "Bearer \(localToken)") == "local-dev")
        #expect(tokens.workflow(forAuthorization: "Bearer wf_payments_token_0123456789") == "payments")
        #expect(tokens.workflow(forAuthorization: "bearer \(localToken)") == "local-dev")
        #expect(tokens.workflow(forAuthorization: "Bearer   \(localToken)  ") == "local-dev")
    }

    @Test(
        "headers that authenticate nothing",
        arguments: [
            Optional<String>.none, "", "Bearer", "Bearer ", "Bearer wf_wrong_token_000000000000",
            "Basic d2ZfbG9jYWxfZGV2ZWxvcG1lbnRfdG9rZW4=", "Basic \(localToken)", localToken,
            "Bearer\(localToken)", "Token \(localToken)", "Bearer \(localToken)x",
        ])
    func rejected(_ header: String?) {
        #expect(tokens.workflow(forAuthorization: header) == nil)
    }

    @Test func readFromConfigAcceptsUpperCaseDigests() throws {
        let read = try WorkflowTokens.read(section("tokens:\n  - {workflow: a, token_sha256: \(tokenSHA.uppercased())}", path: "r"), key: "tokens")
        #expect(read.workflow(forAuthorization: "Bearer \(localToken)") == "a")
    }
}

private func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("CollectorPlan: the ui section")
struct UIConfigTests {
    @Test("a non-loopback address without credentials is refused, naming the key and the fix")
    func nonLoopbackNeedsCredentials() throws {
        let error = try configError(config() + "\nui:\n  endpoint: 0.0.0.0:8890")
        #expect(error.key == "ui.admin_password")
        #expect(error.problem.contains("non-loopback"))
        #expect(error.fix.contains("127.0.0.1"))
        // With a password (here from the environment) the same address is accepted.
        let plan = try CollectorPlan.parse(
            yaml: config() + "\nui:\n  endpoint: 0.0.0.0:8890", file: file,
            environment: ["GOVERNANCE_UI_ADMIN_PASSWORD": "correct-horse-battery"])
        let ui = plan.settings(of: "ui", as: TimelineConfig.self)
        #expect(ui?.host == "0.0.0.0" && ui?.requiresLogin == true)
        #expect(try resolved(plan, "ui.admin_password").display.hasPrefix("sha256:"), "a secret is shown only as a fingerprint")
    }

    @Test("loopback without credentials is allowed (open); weak secrets and unknown pipelines are refused")
    func validation() throws {
        let open = try CollectorPlan.parse(yaml: config() + "\nui: {}", file: file, environment: [:]).settings(of: "ui", as: TimelineConfig.self)
        #expect(open?.host == "127.0.0.1" && open?.port == 8890 && open?.requiresLogin == false)
        #expect(try CollectorPlan.parse(yaml: config() + "\nui: { enabled: false }", file: file, environment: [:]).extensions.isEmpty)
        #expect(try configError(config() + "\nui: { admin_password: short }").key == "ui.admin_password")
        #expect(try configError(config() + "\nui: { admin_token: short }").key == "ui.admin_token")
        // Sessions live in PostgreSQL now: an old config's session_secret is accepted and named in a warning at start.
        let old = try CollectorPlan.parse(yaml: config() + "\nui: { session_secret: short }", file: file, environment: [:])
        #expect(try old.settings(of: "ui", as: TimelineConfig.self)?.ignoresSessionSecret == true)
        #expect(try configError(config() + "\nui: { session_idle: 5 }").key == "ui.session_idle")
        // Sign-in links by e-mail: each key named when wrong, and people (a bootstrap admin) required.
        let mail = "smtp_url: 'smtp://127.0.0.1:25', from: a@example.com, public_url: 'https://g.example.com'"
        let links = try CollectorPlan.parse(
            yaml: config() + "\nui: { admin_password: a-long-enough-password, email_sign_in: { \(mail) } }", file: file, environment: [:])
        #expect(try links.settings(of: "ui", as: TimelineConfig.self)?.emailSignIn?.linkTTL == 600)
        #expect(try configError(config() + "\nui: { email_sign_in: { \(mail) } }").fix.contains("admin_password"))
        for (wrong, key) in [
            ("smtp_url: 'http://x', from: a@example.com, public_url: 'https://g'", "ui.email_sign_in.smtp_url"),
            ("smtp_url: 'smtp://x', from: nobody, public_url: 'https://g'", "ui.email_sign_in.from"),
            ("smtp_url: 'smtp://x', from: a@example.com", "ui.email_sign_in.public_url"),
            ("\(mail), link_ttl: 5", "ui.email_sign_in.link_ttl"),
        ] {
            #expect(try configError(config() + "\nui: { admin_password: a-long-enough-password, email_sign_in: { \(wrong) } }").key == key)
        }
        // OpenID Connect: the secret from the environment, each wrong key named, a role for at least one group.
        let oidc = "issuer: 'https://login.example.com/', client_id: gc, public_url: 'https://g.example.com', groups: [{group: ops, role: admin}]"
        let provider = try CollectorPlan.parse(
            yaml: config() + "\nui: { admin_password: a-long-enough-password, oidc: { \(oidc) } }", file: file,
            environment: ["GOVERNANCE_UI_OIDC_CLIENT_SECRET": "from-the-environment"]
        ).settings(of: "ui", as: TimelineConfig.self)?.openID
        #expect(provider?.clientSecret == "from-the-environment" && provider?.issuer == "https://login.example.com/")
        // The issuer is compared as written; only the discovery URL drops its trailing `/`.
        #expect(provider?.discoveryURL == "https://login.example.com/.well-known/openid-configuration")
        #expect(provider?.scopes == ["openid", "email", "profile"] && provider?.groupsClaim == "groups" && provider?.nameClaim == "email")
        #expect(try configError(config() + "\nui: { admin_password: a-long-enough-password, oidc: { \(oidc) } }").key == "ui.oidc.client_secret")
        #expect(try configError(config() + "\nui: { oidc: { \(oidc), client_secret: s } }").fix.contains("admin_password"))
        for (wrong, key) in [
            ("issuer: 'http://login.example.com', client_id: gc, public_url: 'https://g', groups: [{group: ops, role: admin}]", "ui.oidc.issuer"),
            ("issuer: 'https://l', client_id: gc, public_url: 'https://g'", "ui.oidc.groups"),
            ("issuer: 'https://l', client_id: gc, public_url: 'https://g', groups: [{group: ops, role: boss}]", "ui.oidc.groups[0].role"),
            ("issuer: 'https://l', client_id: gc, public_url: 'https://g', groups: [{group: ops, role: viewer}]", "ui.oidc.groups[0].workflows"),
            (
                "issuer: 'https://l', client_id: gc, public_url: 'https://g', groups: [{group: ops, role: admin, workflows: [a]}]",
                "ui.oidc.groups[0].workflows"
            ),
            ("\(oidc), scopes: [email]", "ui.oidc.scopes"),
            ("\(oidc), groups_claimz: roles", "ui.oidc.groups_claimz"),
        ] {
            #expect(
                try configError(config() + "\nui: { admin_password: a-long-enough-password, oidc: { \(wrong), client_secret: s } }").key == key,
                "\(key)")
        }
        #expect(try configError(config() + "\nui: { pipeline: nope }").fix.contains("audit"))
        #expect(try configError(config() + "\nui: { endpoint: nowhere }").key == "ui.endpoint")
    }
}

@Suite("CollectorPlan: the verification section")
struct VerificationConfigTests {
    @Test("without a key to trust and without a signer here, it is refused naming public_keys; a key that is not one is named too")
    func trustedKeys() throws {
        let missing = try configError(config() + "\nverification: { interval: 5 }")
        #expect(missing.key == "verification.public_keys" && missing.problem.contains("no `checkpoints:` signer"), "\(missing)")
        #expect(missing.fix.contains("checkpoint keygen"))
        let wrong = try configError(config() + "\nverification: { public_keys: ['not-a-key'] }")
        #expect(wrong.key == "verification.public_keys" && wrong.problem.contains("`not-a-key`"), "\(wrong)")
        let key = "test.example/audit+f785f051+AQBZu3uQNzLqACP7Od6srv5oMdRUZHS4QuWl4JbOqDoN"
        let plan = try CollectorPlan.parse(yaml: config() + "\nverification: { public_keys: ['\(key)'], interval: 5 }", file: file, environment: [:])
        #expect(plan.extensions.map(\.id) == ["verification"])
        #expect(try configError(config() + "\nverification: { public_keys: ['\(key)'], interval: 0 }").key == "verification.interval")
    }
}
