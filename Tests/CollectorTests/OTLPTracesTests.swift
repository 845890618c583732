import AuditStore
import Collector
import Config
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Logging
import OTLP
import Pipeline
import Receivers
import Testing

/// A chaining collector with the `otlp` receiver (gRPC and HTTP on free ports) beside `ingest_http`.
func otlpReceiverYAML(dsn: String, settings: String = "") -> String {
    chainedYAML(dsn: dsn)
        .replacingOccurrences(
            of: "processors:\n  seq:",
            with: """
                  otlp:
                    trace_wait: 0
                \(settings)
                    protocols:
                      grpc:
                        endpoint: 127.0.0.1:0
                        tokens:
                          - { workflow: wf-otel, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
                      http:
                        endpoint: 127.0.0.1:0
                        tokens:
                          - { workflow: wf-otel, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
                processors:
                  seq:
                """
        )
        .replacingOccurrences(of: "receivers: [ingest_http]", with: "receivers: [ingest_http, otlp]")
}

/// True once every staged span of `dsn` has been made into rows (or dropped) by the assembler.
func tracesAssembled(_ dsn: String) async throws -> Bool {
    try await eventually { try PGConnection(dsn: dsn).exec("SELECT count(*) FROM governance_staged_spans").rows.first?.first == "0" }
}

extension RunningCollector {
    var otlpReceiver: OTLPReceiver { collector.receivers["otlp"] as! OTLPReceiver }
    /// Where each protocol's client points: the HTTP base URL, or gRPC's host:port.
    func otlpEndpoint(_ protocolName: String) -> String {
        protocolName == "http" ? "http://127.0.0.1:\(otlpReceiver.httpPort ?? 0)" : "127.0.0.1:\(otlpReceiver.grpcPort ?? 0)"
    }
}

@Suite("otlp receiver: traces, and OTLP over gRPC")
struct OTLPTracesTests {
    @Test(
        "OpenTelemetry's OTLPSpanExporter: a GenAI conversation becomes one row per span, a span sent twice is one row, unmarked spans are dropped",
        arguments: ["http", "grpc"])
    func genAIConversation(protocolName: String) async throws {
        let dsn = try await newDatabase()
        let logs = LogCapture()
        let collector = try await RunningCollector.start(yaml: otlpReceiverYAML(dsn: dsn), logger: logs.logger)
        try await collector.waitUntilReady()
        let (status, lines) = try await runSDK(["genai", protocolName, collector.otlpEndpoint(protocolName), testToken], script: "otel_traces.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        let sent = try JSONParser.parse(try #require(lines.last))
        #expect(sent["ok"] == .bool(true))
        let trace = try #require(sent["trace_id"]?.stringValue.flatMap(Hex.bytes))
        func spanID(_ name: String) throws -> [UInt8] { try #require(sent["spans"]?[name]?["span_id"]?.stringValue.flatMap(Hex.bytes)) }
        let (agent, chat, tool) = (try spanID("invoke_agent"), try spanID("chat"), try spanID("execute_tool"))
        #expect(try await tracesAssembled(dsn))

        let rows = try PGConnection(dsn: dsn).exec(
            """
            SELECT event_id::text, kind, agent_id, session_id::text, parent_event_id::text, model, decision, workflow,
                   metadata_json->>'tool', metadata_json->>'gen_ai.usage.input_tokens', metadata_json#>>'{otel,status,code}',
                   metadata_json#>>'{otel,resource,service.name}', hmac_value IS NOT NULL
            FROM governance_audit_events ORDER BY kind
            """
        ).rows
        let id = { (span: [UInt8]) in OTLPSpanMapping.spanUUID(workflow: "wf-otel", trace, span).lowercasedString }
        #expect(
            rows.count == 3, "the GET /health span is not on the way from a GenAI span to the root and is dropped; the second export is all repeats")
        // The failed tool call is not a denial: it has no decision, and the `error` filter finds it.
        var failed = EventFilter()
        failed.decision = "error"
        let (clause, params) = failed.sql()
        #expect(try PGConnection(dsn: dsn).exec("SELECT event_id::text FROM governance_audit_events \(clause)", params).rows == [[id(tool)]])
        let session = try #require(rows.first?[3])
        #expect(
            rows == [
                [
                    id(chat), "gen_ai.chat", "agent-7", session, id(agent), "gpt-4o-2024-08-06", nil, "wf-otel", nil, "120", nil, "travel-service",
                    "t",
                ],
                [
                    id(tool), "gen_ai.execute_tool", "agent-7", session, id(agent), nil, nil, "wf-otel", "search_flights", nil, "2", "travel-service",
                    "t",
                ],
                [id(agent), "gen_ai.invoke_agent", "agent-7", session, nil, nil, nil, "wf-otel", nil, nil, nil, "travel-service", "t"],
            ])
        let (_, samples) = try await scrape(try await collector.telemetryURL())
        // Both exports were staged (8 spans); the assembler made 3 rows, dropped the health check once
        // and took the second export's spans as repeats.
        #expect(samples.value("governance_receiver_events_total", ["receiver": "otlp", "outcome": "staged"]) == 8)
        #expect(samples.value("governance_trace_spans_total", ["outcome": "stored"]) == 3)
        #expect(samples.value("governance_trace_spans_total", ["outcome": "dropped_unmarked"]) == 1)
        #expect(samples.value("governance_trace_spans_total", ["outcome": "repeated"]) == 4)
        // The exporter does not show partial_success to the app: the operator learns it from the
        // log, once per workflow and service (the span was exported twice).
        let warnings = logs.lines("otlp.unmarked_spans_dropped").filter { $0.level == .warning }
        #expect(
            warnings.count == 1 && warnings.first?.metadata["service"] == "travel-service" && warnings.first?.metadata["workflow"] == "wf-otel",
            "\(logs.lines("otlp.unmarked_spans_dropped"))")
        try await collector.stop()
    }

    @Test(
        "spans marked the Traceloop (OpenLLMetry) and Langfuse ways, and spans with GenAI attributes but no operation name, are recognized: agent and tool spans get the same kinds in every dialect, with their agent, tool, session and model"
    )
    func markedSpansAreRecognized() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: otlpReceiverYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let (status, lines) = try await runSDK(["marked", "http", collector.otlpEndpoint("http"), testToken], script: "otel_traces.py")
            #expect(status == 0, "\(lines.joined(separator: "\n"))")
            #expect(try JSONParser.parse(try #require(lines.last))["ok"] == .bool(true), "\(lines)")
            #expect(try await tracesAssembled(dsn))
            let rows = try PGConnection(dsn: dsn).exec(
                """
                SELECT metadata_json#>>'{otel,span_name}', kind, agent_id, session_id::text, model, metadata_json->>'tool'
                FROM governance_audit_events ORDER BY metadata_json#>>'{otel,span_name}' COLLATE "C"
                """
            ).rows
            let session = { (name: String) in OTLPMapping.derivedSession(workflow: "wf-otel", name: name).lowercasedString }
            let (traceloop, langfuse) = (session("sess-traceloop-1"), session("sess-langfuse-1"))
            #expect(
                rows == [
                    ["OpenAI-generation", "gen_ai.chat", "trip-agent", langfuse, "gpt-4o-mini-2024-07-18", nil],
                    ["handle request", "langfuse.span", "trip-app", langfuse, nil, nil],
                    ["legacy.chat", "gen_ai.chat", "planner", traceloop, "gpt-4o", nil],
                    ["lookup_weather", "gen_ai.execute_tool", "trip-agent", langfuse, nil, "lookup_weather"],
                    ["openai.chat", "gen_ai.chat", "planner", traceloop, "gpt-4o-2024-08-06", nil],
                    ["plain request", "gen_ai.span", "trip-app", session("conv-plain-1"), nil, nil],
                    ["planner.agent", "gen_ai.invoke_agent", "planner", traceloop, nil, nil],
                    ["search_flights.tool", "gen_ai.execute_tool", "planner", traceloop, nil, "search_flights"],
                    ["travel.workflow", "traceloop.workflow", "trip-app", traceloop, nil, nil],
                    ["trip-agent", "gen_ai.invoke_agent", "trip-agent", langfuse, nil, nil],
                ])
        }
    }

    @Test(
        "OpenTelemetry's OTLPMetricExporter (gzip) over HTTP and gRPC: the export succeeds, its data points are counted by family, the GenAI ones add up per model (no audit row); a malformed metrics body is a 400 naming the field; a wrong token, bearer or Basic, is a 401"
    )
    func metricsAreAccepted() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: otlpReceiverYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            for (round, protocolName) in ["http", "grpc"].enumerated() {
                let (status, lines) = try await runSDK(
                    ["metrics", protocolName, collector.otlpEndpoint(protocolName), testToken], script: "otel_traces.py")
                #expect(status == 0, "\(lines.joined(separator: "\n"))")
                let sent = try JSONParser.parse(try #require(lines.last))
                #expect(sent["result"] == .string("SUCCESS"), "\(lines)")
                // Two models x two token types, two durations, one plain counter.
                let points = sent["points"]
                #expect(
                    points?["gen_ai.client.token.usage"] == .number("4") && points?["gen_ai.client.operation.duration"] == .number("2")
                        && points?["app.requests"] == .number("1"), "\(lines)")
                let (_, samples) = try await scrape(try await collector.telemetryURL())
                #expect(
                    samples.value("governance_receiver_metric_points_total", ["receiver": "otlp", "family": "gen_ai"]) == Double(6 * (round + 1)))
                #expect(samples.value("governance_receiver_metric_points_total", ["receiver": "otlp", "family": "other"]) == Double(round + 1))
            }
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "0")
            // Two processes (their own series), each one call per model: calls, input and output tokens.
            let usage = try PGConnection(dsn: dsn).exec(
                """
                SELECT service, model, sum(count) FILTER (WHERE metric = 'gen_ai.client.operation.duration')::text,
                       sum(sum) FILTER (WHERE token_type = 'input')::text, sum(sum) FILTER (WHERE token_type = 'output')::text
                FROM governance_genai_usage WHERE workflow = 'wf-otel' GROUP BY 1, 2 ORDER BY 2
                """
            ).rows
            #expect(
                usage == [["unknown_service:python", "gpt-4o", "2", "240", "60"], ["unknown_service:python", "gpt-4o-mini", "2", "160", "24"]],
                "\(usage)")
            let url = collector.otlpEndpoint("http") + OTLPHTTPReceiver.metricsPath
            let malformed = try await postOTLP(
                url, Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"dataPoints":7}}]}]}]}"#.utf8),
                contentType: "application/json")
            #expect(
                malformed.status == 400 && malformed.text.contains("resourceMetrics[0].scopeMetrics[0].metrics[0].sum")
                    && malformed.text.contains("dataPoints"),
                "\(malformed.text)")
            #expect(try await postOTLP(url, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).status == 400)
            #expect(try await postOTLP(url, [], token: "wf_wrong").status == 401)
            // Basic auth (Langfuse's exporter) with a password that is no workflow token, on Langfuse's path.
            let basic = try await TestHTTP.request(
                "POST", collector.otlpEndpoint("http") + OTLPHTTPReceiver.langfuseTracesPath,
                headers: [
                    "Content-Type: application/x-protobuf",
                    "Authorization: Basic " + Data("pk-lf:wf_wrong".utf8).base64EncodedString(),
                ], body: [])
            #expect(basic.status == 401 && basic.text.contains("unknown or revoked token"), "\(basic.status) \(basic.text)")
        }
    }

    @Test(
        "the reference SDK's OTelExporter on a real GovernanceSDK: every SDK event is one row with its event_id, session, agent and kind",
        arguments: ["http", "grpc"])
    func referenceSDKSpans(protocolName: String) async throws {
        let dsn = try await newDatabase()
        let sdkDatabase = "sdk_" + UUID().uuidString.prefix(8).lowercased()
        try AuditSchema.migrate(PGConnection(dsn: try sharedCluster.createDatabase(sdkDatabase)))
        let collector = try await RunningCollector.start(yaml: otlpReceiverYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let (status, lines) = try await runSDK(
            [
                "sdk", protocolName, collector.otlpEndpoint(protocolName), testToken,
                sharedCluster.url(database: sdkDatabase), auditSecret, "9",
            ], script: "otel_traces.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        guard case .array(let records)? = try? JSONParser.parse(try #require(lines.last)) else { Issue.record("no records: \(lines)"); return }
        #expect(records.count == 9)
        let expected = Set(records.map { r in ["event_id", "session_id", "agent_id", "kind", "hmac"].map { r[$0]?.stringValue ?? "" } })
        let stored = try PGConnection(dsn: dsn).exec(
            """
            SELECT event_id::text, session_id::text, agent_id, kind, metadata_json#>>'{otel,claimed_hmac}' FROM governance_audit_events
            """
        ).rows.map { $0.map { $0 ?? "" } }
        #expect(Set(stored) == expected)
        // The SDK's rows and ours agree on parents and metadata; our chain is our own and verifies.
        let sdkRows = try PGConnection(dsn: sharedCluster.dsn(database: sdkDatabase)).exec(
            "SELECT event_id::text, parent_event_id::text, input_hash, metadata_json->>'n', metadata_json->>'nested' FROM governance_audit_events"
        ).rows
        let ourRows = try PGConnection(dsn: dsn).exec(
            "SELECT event_id::text, parent_event_id::text, input_hash, metadata_json->>'n', metadata_json->>'nested' FROM governance_audit_events"
        ).rows
        #expect(Set(ourRows.map { $0.prefix(4) }) == Set(sdkRows.map { $0.prefix(4) }))
        #expect(ourRows.allSatisfy { $0[4] == "{'a': 1}" }, "the SDK's exporter stringifies nested values with str()")
        let report = try ChainVerifier(connection: PGConnection(dsn: dsn), secret: auditSecret).verify()
        #expect(report.isClean && report.rows == 9, "\(report.problems)")
        try await collector.stop()
    }

    @Test("OpenTelemetry's OTLPLogExporter over gRPC (gzip): stored like OTLP/HTTP logs")
    func logsOverGRPC() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpReceiverYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let (status, lines) = try await runSDK(["logs", "grpc", collector.otlpEndpoint("grpc"), testToken, "10"], script: "otel_traces.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        let sent = try JSONParser.parse(try #require(lines.last))
        guard case .array(let ids)? = sent["ids"] else { Issue.record("no ids"); return }
        #expect(try await storedIDs(dsn) == Set(ids.compactMap { $0.stringValue.flatMap(UUID.init(uuidString:)) }))
        #expect(try await scalar(dsn, "SELECT DISTINCT workflow || ' ' || kind FROM governance_audit_events") == "wf-otel tool.call")
        try await collector.stop()
    }

    @Test("bad input over gRPC gets the OTLP status codes, UNAVAILABLE carries RetryInfo, and the collector stays up")
    func grpcStatuses() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let collector = try await RunningCollector.start(yaml: otlpReceiverYAML(dsn: cluster.dsn))
        try await collector.waitUntilReady()
        func call(_ name: String) async throws -> JSONValue {
            let (status, lines) = try await runSDK(["raw", collector.otlpEndpoint("grpc"), testToken, name], script: "otel_traces.py")
            #expect(status == 0, "\(lines.joined(separator: "\n"))")
            return try JSONParser.parse(try #require(lines.last))
        }
        #expect(try await call("no-token")["code"] == .string("UNAUTHENTICATED"))
        #expect(try await call("bad-token")["code"] == .string("UNAUTHENTICATED"))
        let garbage = try await call("garbage")
        #expect(garbage["code"] == .string("INVALID_ARGUMENT"))
        #expect(garbage["details"]?.stringValue?.contains("ExportTraceServiceRequest") == true)
        let big = try await call("oversized")
        #expect(big["code"] == .string("RESOURCE_EXHAUSTED"))
        #expect(big["details"]?.stringValue?.contains("max_recv_msg_size_mib") == true)

        try cluster.stop()
        let down = try await call("valid")
        #expect(down["code"] == .string("UNAVAILABLE"))
        #expect(down["retry_delay"] == .number("1"))
        try cluster.start()
        try await collector.waitUntilReady()
        let ok = try await call("valid")
        #expect(ok["code"] == .string("OK"))
        #expect(ok["rejected"] == .number("0"))
        #expect(try await tracesAssembled(cluster.dsn))
        #expect(try await scalar(cluster.dsn, "SELECT count(*) FROM governance_audit_events") == "1")
        try await collector.stop()
    }

    @Test(
        "collector A's OTLP exporter into collector B's otlp receiver (logs and spans, HTTP protobuf and JSON, gRPC): B stores the same rows, chain included",
        arguments: [
            ("otlp_http", "http", "protobuf", "logs"), ("otlp_http", "http", "json", "logs"), ("otlp_grpc", "grpc", "grpc", "logs"),
            ("otlp_http", "http", "protobuf", "traces"), ("otlphttp", "http", "json", "traces"), ("otlp_grpc", "grpc", "grpc", "traces"),
            ("otlp", "grpc", "grpc", "traces"),
        ])
    func chainOverOTLP(exporter: String, protocolName: String, encoding: String, signal: String) async throws {
        let dsnB = try await newDatabase()
        let b = try await RunningCollector.start(yaml: otlpReceiverYAML(dsn: dsnB))
        try await b.waitUntilReady()
        let path = signal == "logs" ? OTLPHTTPReceiver.logsPath : OTLPHTTPReceiver.tracesPath
        let endpoint = protocolName == "http" ? b.otlpEndpoint("http") + path : "http://" + b.otlpEndpoint("grpc")
        let dsnA = try await newDatabase()
        let a = try await RunningCollector.start(
            yaml: otlpExporterYAML(
                dsn: dsnA, endpoint: endpoint,
                settings: """
                        signal: \(signal)
                        encoding: \(encoding)
                        redact: false
                    """, type: exporter))
        try await a.waitUntilReady()
        let session = UUID()
        for i in 0..<30 {
            let metadata = #"{"n":\#(i),"ratio":1.0,"nested":{"list":[1,"two",null,true]},"text":"é\n\u0001"}"#
            #expect(
                try await post(a.eventsURL, wireEvent(session: session, kind: i % 2 == 0 ? "tool.call" : "policy.denied", metadata: metadata)).status
                    == 201)
        }
        #expect(try await eventually { (try await scalar(dsnB, "SELECT count(*) FROM governance_audit_events")) == "30" })
        let columns = "event_id, session_id, agent_id, kind, parent_event_id, metadata_json::text, prev_hash, hmac_value, created_at, decision"
        let query = "SELECT string_agg(concat_ws('|', \(columns)), E'\\n' ORDER BY event_id) FROM governance_audit_events"
        #expect(try await scalar(dsnB, query) == scalar(dsnA, query))
        #expect(try await scalar(dsnB, "SELECT DISTINCT workflow FROM governance_audit_events") == "wf-otel")
        try await a.stop()
        try await b.stop()
    }

    @Test("OTLP/gRPC over TLS with the test CA: OpenTelemetry's exporter and our otlp_grpc exporter verify the certificate and are stored")
    func grpcOverTLS() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let dsnB = try await newDatabase()
        let tlsYAML = otlpReceiverYAML(dsn: dsnB).replacingOccurrences(
            of: "      grpc:\n        endpoint: 127.0.0.1:0\n",
            with: """
                      grpc:
                        endpoint: 127.0.0.1:0
                        tls: { cert_file: \(ca.certFile), key_file: \(ca.keyFile) }

                """)
        let b = try await RunningCollector.start(yaml: tlsYAML)
        try await b.waitUntilReady()
        let (status, lines) = try await runSDK(
            ["genai", "grpc", "localhost:\(b.otlpReceiver.grpcPort ?? 0)", testToken, ca.caFile], script: "otel_traces.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        #expect(try JSONParser.parse(try #require(lines.last))["ok"] == .bool(true))
        #expect(try await tracesAssembled(dsnB))
        #expect(try await scalar(dsnB, "SELECT count(*) FROM governance_audit_events") == "3")

        let dsnA = try await newDatabase()
        let a = try await RunningCollector.start(
            yaml: otlpExporterYAML(
                dsn: dsnA, endpoint: "https://localhost:\(b.otlpReceiver.grpcPort ?? 0)",
                settings: """
                        signal: traces
                        ca_file: \(ca.caFile)
                    """, type: "otlp_grpc"))
        try await a.waitUntilReady()
        for _ in 0..<5 { #expect(try await post(a.eventsURL, wireEvent()).status == 201) }
        #expect(try await eventually { (try await scalar(dsnB, "SELECT count(*) FROM governance_audit_events")) == "8" })
        try await a.stop()
        try await b.stop()
    }

    @Test("GenAI token usage priced by the budget's price table: chat spans' tokens add up per agent and cross the cap once")
    func tokenUsageFeedsTheBudget() async throws {
        let dsn = try await newDatabase()
        let yaml = otlpReceiverYAML(dsn: dsn)
            .replacingOccurrences(
                of: "processors:\n  seq:",
                with: """
                    processors:
                      budget:
                        daily_usd: { agent-7: 10 }
                        prices:
                          gpt-4o: { input: 2.5, output: 10 }
                          "*": { input: 100, output: 100 }
                      seq:
                    """
            )
            .replacingOccurrences(of: "processors: [seq, chain]", with: "processors: [budget, seq, chain]")
        let collector = try await RunningCollector.start(yaml: yaml)
        try await collector.waitUntilReady()
        func chat(_ span: Int, input: Int, output: Int) -> String {
            """
            {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"00000000000000\(String(format: "%02x", span))","name":"chat",
             "startTimeUnixNano":"1764590000000000000","attributes":[
              {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.agent.id","value":{"stringValue":"agent-7"}},
              {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
              {"key":"gen_ai.usage.input_tokens","value":{"intValue":"\(input)"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":\(output)}}]}
            """
        }
        // 1M input + 500k output tokens of gpt-4o: 2.5 + 5 = 7.5 USD; then 0.5 more reaches 80% of 10.
        for spans in [[chat(1, input: 1_000_000, output: 500_000)], [chat(2, input: 200_000, output: 0)]] {
            let body = #"{"resourceSpans":[{"scopeSpans":[{"spans":[\#(spans.joined(separator: ","))]}]}]}"#
            let answer = try await postOTLP(
                collector.otlpEndpoint("http") + OTLPHTTPReceiver.tracesPath, Array(body.utf8), contentType: "application/json")
            #expect(answer.status == 200 && answer.text == "{}", "\(answer.text)")
        }
        #expect(try await tracesAssembled(dsn))
        #expect(try await scalar(dsn, "SELECT used_usd = 8 FROM governance_budget_spend WHERE agent_id = 'agent-7'") == "t")
        // Each chat row says what it cost and at which price, and the rows add up to the spend.
        #expect(
            try await scalar(
                dsn,
                """
                SELECT string_agg((metadata_json->>'cost_usd') || ' ' || (metadata_json->'cost_basis')::text, ', ' ORDER BY metadata_json->>'cost_usd')
                FROM governance_audit_events WHERE kind = 'gen_ai.chat'
                """) == #"0.5 {"price": "gpt-4o"}, 7.5 {"price": "gpt-4o"}"#)
        #expect(
            try await scalar(
                dsn,
                """
                SELECT sum((metadata_json->>'cost_usd')::numeric) = (SELECT used_usd FROM governance_budget_spend WHERE agent_id = 'agent-7')
                FROM governance_audit_events WHERE kind = 'gen_ai.chat'
                """) == "t")
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("all chains intact"), "the cost is written before the chain: \(verified.output)")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_budget_alerts") == "1")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'budget.threshold_crossed'") == "1")
        try await collector.stop()
    }

    @Test("otlp_http serves /v1/traces too: OpenInference spans map by their span kind, and keep_unmarked_spans keeps plain spans as otel.span")
    func openInferenceAndUnmarked() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn, otlpSettings: "    keep_unmarked_spans: true\n    trace_wait: 0"))
        try await collector.waitUntilReady()
        let trace = "0af7651916cd43dd8448eb211c80319c"
        func span(_ id: String, parent: String? = nil, name: String, _ attributes: [(String, String)], status: Int = 0) -> String {
            let attrs = attributes.map { #"{"key":"\#($0.0)","value":{"stringValue":"\#($0.1)"}}"# }.joined(separator: ",")
            return
                #"{"traceId":"\#(trace)","spanId":"\#(id)"\#(parent.map { #","parentSpanId":"\#($0)""# } ?? ""),"name":"\#(name)","kind":"SPAN_KIND_INTERNAL","startTimeUnixNano":"1764590000123456789","endTimeUnixNano":"1764590000623456789","attributes":[\#(attrs)],"status":{"code":\#(status)}}"#
        }
        let spans = [
            span("00f067aa0ba902b7", name: "agent", [("openinference.span.kind", "AGENT"), ("agent.name", "researcher"), ("session.id", "s-1")]),
            span(
                "00f067aa0ba902b8", parent: "00f067aa0ba902b7", name: "llm",
                [("openinference.span.kind", "LLM"), ("llm.model_name", "claude-x"), ("session.id", "s-1")]),
            span(
                "00f067aa0ba902b9", parent: "00f067aa0ba902b7", name: "guard",
                [("openinference.span.kind", "GUARDRAIL"), ("session.id", "s-1"), ("guardrail.decision", "blocked")]),
            span("00f067aa0ba902ba", name: "GET /health", [("http.route", "/health")]),
        ]
        let body =
            #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rag-service"}}]},"scopeSpans":[{"spans":[\#(spans.joined(separator: ","))]}]}]}"#
        let url = collector.otlpURL.replacingOccurrences(of: OTLPHTTPReceiver.logsPath, with: OTLPHTTPReceiver.tracesPath)
        let answer = try await postOTLP(url, Array(body.utf8), contentType: "application/json")
        #expect(answer.status == 200 && answer.text == "{}", "\(answer.text)")
        #expect(try await tracesAssembled(dsn))
        let rows = try PGConnection(dsn: dsn).exec(
            """
            SELECT kind, agent_id, model, decision, parent_event_id IS NOT NULL, created_at = '2025-12-01 11:53:20.123456+00',
                   metadata_json#>>'{otel,duration_ns}', metadata_json#>>'{otel,span_name}'
            FROM governance_audit_events ORDER BY kind
            """
        ).rows
        #expect(
            rows == [
                ["openinference.agent", "researcher", nil, nil, "f", "t", "500000000", "agent"],
                ["openinference.guardrail", "researcher", nil, "deny", "t", "t", "500000000", "guard"],
                ["openinference.llm", "researcher", "claude-x", nil, "t", "t", "500000000", "llm"],
                ["otel.span", "rag-service", nil, nil, "f", "t", "500000000", "GET /health"],
            ])
        #expect(try await scalar(dsn, "SELECT count(DISTINCT session_id) FROM governance_audit_events WHERE kind LIKE 'openinference.%'") == "1")
        try await collector.stop()
    }
}
