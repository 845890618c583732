import ArgumentParser
import AuditStore
import Collector
import Config
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Pipeline

@main
struct GovernanceCollector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "governance-collector",
        abstract: "Collects AI-agent governance audit events into PostgreSQL.",
        subcommands: [
            Run.self, Validate.self, PrintConfig.self, Migrate.self, Verify.self, ChainCommand.self, CheckpointCommand.self, RetentionCommand.self,
            Prove.self, Tail.self, Export.self, Evidence.self, Token.self,
            AgentKeyCommand.self,
        ],
        defaultSubcommand: Run.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "configs/local.yaml"

    /// Loads and validates; a mistake prints `file: key problem; fix: ...` and exits 2.
    func plan() throws -> CollectorPlan {
        do {
            return try CollectorPlan.load(file: config)
        } catch {
            FileHandle.standardError.write(Data("configuration error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The HMAC secret in use: GOVERNANCE_AUDIT_SECRET, or else the chain processor's.
    func chainSecret() throws -> String? {
        if let secret = ProcessInfo.processInfo.environment["GOVERNANCE_AUDIT_SECRET"], !secret.isEmpty { return secret }
        return try plan().chainSecret()
    }

    /// The audit database at `dsn`, or else the configuration's primary's (libpq's defaults and
    /// the `PG*` environment when neither names one).
    func database(overriddenBy dsn: String?) throws -> AuditDatabase {
        let logger = Logger(label: "governance-collector")
        if let dsn { return AuditDatabase(dsn: dsn, logger: logger) }
        let plan = try plan()
        return try plan.auditDatabase() ?? AuditDatabase(dsn: "", logger: logger)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the collector (the default command).")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        Allocator.limitArenas(to: 2)
        // Swift's tasks run on NIO's event loops, so a request's handler, its commit's answer and
        // its response stay on the loop threads instead of waking Dispatch's pool for each hop.
        // With issue 16's other changes, context switches per single-event request fell from 2.3
        // to 0.9 at 64 connections and from 14 to 7 at one (docs/benchmark.md). Nothing in the
        // product blocks a task for long: blocking work has threads of its own (BlockingExecutor).
        // Installed before the collector starts its first task; false (say, another hook was
        // installed first) leaves Swift's default executor, which the start-up line names.
        let onNIOLoops = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let plan = try options.plan()
        LoggingSystem.bootstrap { label in
            if plan.logFormat == .json { return JSONLogHandler(label: label, level: plan.logLevel) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = plan.logLevel
            return handler
        }
        let logger = Logger(label: "governance-collector")
        let collector = try Collector(plan: plan, logger: logger)
        logger.info(
            "collector.starting",
            metadata: [
                "config": "\(plan.file)", "pipelines": "\(plan.pipelines.map(\.name))",
                "executor": "\(onNIOLoops ? "nio_event_loops" : "swift_default")",
            ])
        try await collector.run()
        logger.info("collector.stopped")
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a configuration file and exit (0 valid, 2 invalid).")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let plan = try options.plan()
        print("\(plan.file): valid (\(plan.pipelines.count) pipeline(s): \(plan.pipelines.map(\.name).joined(separator: ", ")))")
    }
}

struct PrintConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print-config",
        abstract: "Print every effective setting and where it came from (file, environment, default). Secrets show only a fingerprint.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let plan = try options.plan()
        let width = plan.resolved.map(\.key.count).max() ?? 0
        for value in plan.resolved {
            let source = value.detail.map { "\(value.source.rawValue): \($0)" } ?? value.source.rawValue
            print("\(value.key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value.display)  (\(source))")
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the audit table in PostgreSQL, then exit.")
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?

    func run() async throws {
        let database = try options.database(overriddenBy: dsn)
        do {
            let connection = try database.connect(applicationName: "governance-collector migrate")
            let changed = try database.migrate(connection)
            print(changed ? "migrated to schema version \(AuditSchema.version)" : "schema already at version \(AuditSchema.version)")
        } catch {
            FileHandle.standardError.write(Data("migrate failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Recompute every HMAC, check chain links, forks and seq gaps, re-check stored agent signatures. Exit 0 clean, 1 tampered, 2 usage or configuration error.",
        discussion: """
            Signatures: counts rows per stored signature_status, and re-verifies every row stored as signed whose \
            key is registered in governance_agent_keys or configured in an agent_signatures processor.
            """)
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?
    @Option(help: "Only this session (UUID).") var session: String?
    @Option(help: "Only this workflow.") var workflow: String?
    @Option(help: "Only events created at or after this RFC 3339 time.") var since: String?
    @Option(help: "Only events created before this RFC 3339 time.") var until: String?
    @Option(
        name: .customLong("key"),
        help:
            "Another chain key, for tables whose key was rotated: env://NAME (base64, as the SDK reads it) or file:///path (the file's bytes). Repeatable; matched by fingerprint."
    )
    var keys: [String] = []

    func run() async throws {
        func usage(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("verify: \(message)\n".utf8))
            return ExitCode(2)
        }
        var filter = ChainVerifier.Filter(workflow: workflow)
        if let session {
            guard let id = UUID(uuidString: session) else { throw usage("--session is not a UUID") }
            filter.session = id
        }
        for (name, text, path) in [("--since", since, \ChainVerifier.Filter.since), ("--until", until, \ChainVerifier.Filter.until)] {
            guard let text else { continue }
            guard let t = Timestamp(iso8601: text) else { throw usage("\(name) is not an RFC 3339 time with offset") }
            filter[keyPath: path] = t
        }
        let environment = ProcessInfo.processInfo.environment
        let database = try options.database(overriddenBy: dsn)
        let secret = try options.chainSecret()
        var secrets = secret.map { [Array($0.utf8)] } ?? []
        for uri in keys {
            guard let bytes = ChainKeyring.resolve(uri: uri, environment: environment) else {
                throw usage("--key \(uri): not readable (use env://NAME or file:///path)")
            }
            secrets.append(bytes)
        }
        guard !secrets.isEmpty else { throw usage("no HMAC secret: set GOVERNANCE_AUDIT_SECRET, configure the chain processor, or pass --key") }
        // Agent keys configured in the file, when there is one, besides the database's.
        var agentKeys: [String: AgentPublicKey] = [:]
        if FileManager.default.fileExists(atPath: options.config) {
            for key in try options.plan().configuredAgentKeys() { agentKeys[key.fingerprint] = key }
        }
        do {
            let connection = try database.connect(applicationName: "governance-collector verify")
            let report = try ChainVerifier(connection: connection, secrets: secrets).verify(filter)
            for problem in report.problems { printSafe("\(problem)") }
            for problem in report.sealProblems { printSafe(problem) }
            let keys = report.keyVersions == 0 ? "" : ", \(report.keyVersions) key versions, \(report.rotations) rotation(s)"
            print(
                "checked \(report.rows) rows in \(report.sessions) sessions\(keys): \(report.isClean ? "all chains intact" : "\(report.problems.count + report.sealProblems.count) problem(s)")"
            )
            if let retention = report.retention { printSafe(Self.summary(retention, continued: report.continuedAfterRetention)) }
            if try AgentKeyTable.exists(connection) { agentKeys.merge(try AgentKeyTable.load(connection).keys) { configured, _ in configured } }
            let signatures = try SignatureAudit(connection: connection, keys: agentKeys).run(filter)
            for failure in signatures.failures { printSafe("\(failure)") }
            printSafe(Self.summary(signatures))
            if !report.isClean || !signatures.isClean { throw ExitCode(1) }
        } catch let error as PGError {
            throw usage("PostgreSQL: \(error)")
        }
    }
}

extension Verify {
    /// `removed by retention up to 2026-11-27 00:00:00+00: 1200 rows (2 seals, the newest …); 3 session(s) continue from a sealed head`.
    static func summary(_ r: RetentionRecord.Summary, continued: Int) -> String {
        "removed by retention up to \(r.cutoff): \(r.removedRows) rows (\(r.seals) seal\(r.seals == 1 ? "" : "s"), the newest \(r.sealID)); "
            + "\(continued) session(s) continue from a sealed head"
    }

    /// `signatures: signed=3 unsigned=10; re-verified 3 signed rows: all verify (1 not re-checked: key not known here)`.
    static func summary(_ r: SignatureAudit.Report) -> String {
        let counts = r.counts.isEmpty ? "no rows" : r.counts.map { "\($0.status)=\($0.rows)" }.joined(separator: " ")
        let outcome = r.isClean ? "all verify" : "\(r.failures.count) do not verify"
        let unknown = r.keyNotKnown == 0 ? "" : " (\(r.keyNotKnown) not re-checked: key not known here)"
        return "signatures: \(counts); re-verified \(r.reverified) signed rows: \(outcome)\(unknown)"
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print audit events as they are committed, in commit order, until interrupted (or --limit).",
        discussion: """
            Follows governance_audit_events by transaction id, so an event that commits late is never \
            skipped. Reads PostgreSQL directly: it sees every writer (collectors and SDK processes).
            """)
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?
    @Option(help: "Only this agent id (repeatable).") var agent: [String] = []
    @Option(help: "Only this kind; a trailing * matches a prefix, e.g. 'tool.*' (repeatable).") var kind: [String] = []
    @Option(help: "Only this workflow (repeatable).") var workflow: [String] = []
    @Option(help: "Start with events created at or after this RFC 3339 time (default: only new events).") var since: String?
    @Option(help: "Seconds between looks while nothing is new.") var interval: Double = 0.1
    @Option(help: "Exit after printing this many events.") var limit: Int?
    @Flag(help: "Print each event as one JSON object (the platform wire format plus workflow) instead of a text line.")
    var json = false

    func run() async throws {
        func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("tail: \(message)\n".utf8))
            return ExitCode(2)
        }
        var start: Timestamp?
        if let since {
            guard let t = Timestamp(iso8601: since) else { throw fail("--since is not an RFC 3339 time with offset") }
            start = t
        }
        let database = try options.database(overriddenBy: dsn)
        let filter = TailFilter(agents: Set(agent), kinds: kind, workflows: Set(workflow))
        var cursor: AuditTableFollower.Cursor?
        var printed = 0
        var backoff = Backoff(initial: 0.1, maximum: 5)
        while true {
            do {
                let follower = AuditTableFollower(connection: try database.connect(applicationName: "governance-collector tail"))
                guard try follower.hasTxidColumn() else {
                    throw fail(
                        """
                        governance_audit_events has no governance_txid column (the SDK or a collector before schema version 3 created the table). Add it once with \
                        `ALTER TABLE governance_audit_events ADD COLUMN governance_txid xid8 NOT NULL DEFAULT pg_current_xact_id()` \
                        (rewrites the table) or turn on the platform bridge's durable mode, which does the same
                        """)
                }
                if cursor == nil {
                    cursor = try follower.startCursor(since: start)
                    FileHandle.standardError.write(
                        Data("tail: following governance_audit_events\(start.map { " from \($0)" } ?? " (new events)")\n".utf8))
                }
                backoff.succeeded()
                while true {
                    let rows = try follower.fetch(after: cursor!, limit: 1000)
                    for row in rows {
                        cursor = row.cursor
                        let event: AuditEvent
                        switch row.decoded {
                        case .success(let decoded): event = decoded
                        case .failure(let error):
                            FileHandle.standardError.write(
                                Data(TerminalText.safe("tail: \(error); governance-collector verify reports it").utf8 + [0x0A]))
                            continue
                        }
                        guard filter.matches(event) else { continue }
                        print(json ? TerminalText.safeJSON(EventExport.ndjsonLine(event)) : TailFilter.line(event))
                        printed += 1
                        if let limit, printed >= limit {
                            fflush(nil)
                            return
                        }
                    }
                    fflush(nil)
                    if rows.isEmpty { try await Task.sleep(for: .seconds(interval)) }
                }
            } catch let error as PGError {
                let wait = backoff.failed()
                FileHandle.standardError.write(Data("tail: PostgreSQL: \(error.message); retrying in \(wait) s\n".utf8))
                try await Task.sleep(for: .seconds(wait))
            }
        }
    }
}

/// `tail`'s filters and output.
struct TailFilter {
    var agents: Set<String>
    var kinds: [String]
    var workflows: Set<String>

    func matches(_ e: AuditEvent) -> Bool {
        (agents.isEmpty || agents.contains(e.agentID))
            && (workflows.isEmpty || workflows.contains(e.workflow))
            && (kinds.isEmpty || kinds.contains { $0.hasSuffix("*") ? e.kind.hasPrefix($0.dropLast()) : e.kind == $0 })
    }

    /// `created_at workflow agent kind [decision] session seq event_id`, tab-separated; control
    /// characters in client-supplied text are escaped so a hostile value cannot rewrite the terminal.
    static func line(_ e: AuditEvent) -> String {
        let safe = TerminalText.safe
        return [
            e.createdAt.pythonISOFormat, safe(e.workflow.isEmpty ? "-" : e.workflow), safe(e.agentID), safe(e.kind),
            e.decision.map { "decision=\($0.rawValue)" } ?? "-", "session=\(e.sessionID.lowercasedString)",
            "seq=\(e.seq.map(String.init) ?? "-")", "id=\(e.eventID.lowercasedString)",
        ].joined(separator: "\t")
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage workflow ingest tokens.", subcommands: [New.self])

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a fresh wf_ token and the config line that accepts it.")
        @Option(help: "The workflow the token authenticates (e.g. billing-agents-prod).")
        var workflow: String

        func run() async throws {
            let token = IngestToken.generate()
            let digest = SHA256.hash(data: Data(token.utf8)).hexString
            print("token (shown once; give it to the client as GOVERNANCE_PLATFORM_INGEST_TOKEN):")
            print("  \(token)")
            print("config line (under receivers.ingest_http.tokens):")
            print("  - { workflow: \(workflow), token_sha256: \(digest) }")
        }
    }
}
