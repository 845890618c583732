import AuditStore
import Config
import CurlHTTP
import Foundation
import GovernanceTesting
import OTLP
import Pipeline
import Receivers
import Testing

/// Spans wait durably in PostgreSQL for their trace, and one assembler per database makes the
/// trace into rows: an acknowledged span survives a kill -9, and a run split across collectors
/// is one run.
@Suite("trace assembly: durable staging, one assembler per database")
struct TraceAssemblyTests {
    static let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let agentSpan = "00f067aa0ba90201"

    /// One OTLP/JSON span of `trace`; the agent span is the root.
    static func span(_ id: String, parent: String?, name: String, _ attributes: [(String, String)]) -> String {
        let attrs = attributes.map { #"{"key":"\#($0.0)","value":{"stringValue":"\#($0.1)"}}"# }.joined(separator: ",")
        return
            #"{"traceId":"\#(trace)","spanId":"\#(id)"\#(parent.map { #","parentSpanId":"\#($0)""# } ?? ""),"name":"\#(name)","startTimeUnixNano":"1764590000000000000","endTimeUnixNano":"1764590001000000000","attributes":[\#(attrs)]}"#
    }

    static func body(_ spans: [String]) -> [UInt8] {
        Array(
            #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"trip-app"}}]},"scopeSpans":[{"spans":[\#(spans.joined(separator: ","))]}]}]}"#
                .utf8)
    }

    /// The chat and the tool call end, and are exported, before their agent span.
    static let children = body([
        span("00f067aa0ba90202", parent: agentSpan, name: "chat gpt-4o", [("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o")]),
        span("00f067aa0ba90203", parent: agentSpan, name: "search_flights", [("gen_ai.tool.name", "search_flights")]),
    ])
    static let agent = body([
        span(
            agentSpan, parent: nil, name: "invoke_agent planner",
            [
                ("gen_ai.operation.name", "invoke_agent"), ("gen_ai.agent.name", "planner"),
                ("gen_ai.conversation.id", "conv-42"),
            ])
    ])

    /// The run as stored: one row per span, each child booked to the agent under its row, one session.
    func expectOneRun(_ dsn: String) async throws {
        let rows = try PGConnection(dsn: dsn).exec(
            """
            SELECT kind, agent_id, parent_event_id::text, session_id::text FROM governance_audit_events ORDER BY kind
            """
        ).rows
        let trace = try #require(Hex.bytes(Self.trace))
        let agentRow = OTLPSpanMapping.spanUUID(workflow: "wf-otel", trace, try #require(Hex.bytes(Self.agentSpan))).lowercasedString
        let session = OTLPMapping.derivedSession(workflow: "wf-otel", name: "conv-42").lowercasedString
        #expect(
            rows == [
                ["gen_ai.chat", "planner", agentRow, session],
                ["gen_ai.execute_tool", "planner", agentRow, session],
                ["gen_ai.invoke_agent", "planner", nil, session],
            ])
        #expect(try await scalar(dsn, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM governance_audit_events") == "t", "seq has no gap")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_staged_spans") == "0")
    }

    @Test(
        "kill -9 after the children were acknowledged and before their trace was assembled: after a restart the run is assembled once, seq gapless, chains intact"
    )
    func killBetweenAcknowledgementAndAssembly() async throws {
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gc-traces-\(UUID()).yaml").path
        try otlpYAML(dsn: dsn, otlpSettings: "    trace_wait: 0")
            .replacingOccurrences(of: "otlp_http:\n    endpoint: 127.0.0.1:0", with: "otlp_http:\n    endpoint: 127.0.0.1:\(port)")
            .write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let url = "http://127.0.0.1:\(port)\(OTLPHTTPReceiver.tracesPath)"
        func export(_ body: [UInt8]) async throws -> Bool {
            try await eventually(60) { (try? await postOTLP(url, body, contentType: "application/json"))?.status == 200 }
        }

        let first = try spawnCollector(config: file)
        #expect(try await export(Self.children))
        first.stop(SIGKILL)
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_staged_spans") == "2", "acknowledged, so staged")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "0", "no root yet: not assembled")

        let second = try spawnCollector(config: file)
        defer { second.stop(SIGKILL) }
        #expect(try await export(Self.agent))
        #expect(try await tracesAssembled(dsn))
        try await expectOneRun(dsn)
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("all chains intact"), "\(verified.output)")
    }

    @Test("two collectors on one database, a run's spans split across them: one assembler, one run")
    func twoCollectors() async throws {
        let dsn = try await newDatabase()
        let yaml = otlpYAML(dsn: dsn, otlpSettings: "    trace_wait: 0")
        try await RunningCollector.with(yaml: yaml) { a in
            try await RunningCollector.with(yaml: yaml) { b in
                try await a.waitUntilReady()
                try await b.waitUntilReady()
                let path = OTLPHTTPReceiver.logsPath
                for (collector, body) in [(a, Self.children), (b, Self.agent)] {
                    let answer = try await postOTLP(
                        collector.otlpURL.replacingOccurrences(of: path, with: OTLPHTTPReceiver.tracesPath), body,
                        contentType: "application/json")
                    #expect(answer.status == 200, "\(answer.text)")
                }
                #expect(try await tracesAssembled(dsn))
                try await expectOneRun(dsn)
            }
        }
    }

    @Test("a pipeline without a chain processor refuses telemetry spans when they arrive, in partial_success naming the fix, not later in a log")
    func unchainedPipelineRefusesSpans() async throws {
        let dsn = try await newDatabase()
        let yaml = otlpYAML(dsn: dsn).replacingOccurrences(of: "      processors: [seq, chain]\n", with: "")
        #expect(!yaml.contains("processors: [seq, chain]"))
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            let answer = try await postOTLP(
                collector.otlpURL.replacingOccurrences(of: OTLPHTTPReceiver.logsPath, with: OTLPHTTPReceiver.tracesPath),
                Self.children, contentType: "application/json")
            #expect(answer.status == 200)
            #expect(answer.text.contains(#""rejectedSpans":"2""#) && answer.text.contains("add `chain` to its processors"), "\(answer.text)")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_staged_spans") == "0")
        }
    }
}
