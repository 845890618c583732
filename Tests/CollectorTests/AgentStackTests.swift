import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import OTLP
import Pipeline
import Testing

/// Tests/interop/fake_openai.py: the model the agent stacks call, on loopback.
struct FakeOpenAI {
    let process: ChildProcess
    let port: Int

    static func start() async throws -> FakeOpenAI {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gc-fake-openai-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "interop/fake_openai.py"
        ).path
        let process = try ChildProcess.spawn([try sdkPython(), script, file], outputPath: Transcript.shared?.path)
        guard try await eventually(60, { FileManager.default.fileExists(atPath: file) }),
            let port = Int(try String(contentsOfFile: file, encoding: .utf8))
        else {
            process.kill(SIGKILL)
            throw LocalPostgres.Failure(description: "the fake OpenAI server did not start")
        }
        return FakeOpenAI(process: process, port: port)
    }

    func stop() {
        process.stop(SIGKILL)
    }
}

/// An agent stack's interpreter (scripts/install-agent-stacks.sh makes one virtualenv per stack).
func stackPython(_ stack: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let python = root.appendingPathComponent(".build/stacks/\(stack)/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw LocalPostgres.Failure(description: "the \(stack) stack is not installed: run scripts/install-agent-stacks.sh (scripts/test.sh does)")
    }
    return python
}

/// Each stack of docs/agent-stacks.md, unmodified from PyPI, runs one small agent (chat → tool
/// call → chat) against the fake model and exports its spans, each as it ends, to the collector.
/// One run at a time: each is a Python process importing a whole stack, beside a collector.
@Suite("agent stacks from PyPI: each whole run becomes the audit trail", .serialized)
struct AgentStackTests {
    /// What a stack's run must become.
    struct Run: Sendable, CustomTestStringConvertible {
        var stack: String
        var spans: Int
        /// Rows above the agent (a workflow, the app's request), booked to the service.
        var aboveAgent: Int
        /// The agent the model and tool rows are booked to: the service when the stack has no agent.
        var agent: String
        /// The session the stack names, or nil (one derived from the trace).
        var session: String?
        /// Whether its model spans say how many input tokens the provider read from its cache.
        var reportsCachedTokens = true
        /// The model its GenAI metrics name (the stacks that emit them), as the dashboard shows it.
        var metricsModel: String?
        var testDescription: String { stack }
    }

    static let runs = [
        // A bare client instrumentation has no agent concept: everything is booked to the service.
        Run(stack: "otelv2", spans: 4, aboveAgent: 0, agent: "weather-app", session: nil, reportsCachedTokens: false, metricsModel: "gpt-4o"),
        // Agent workflow (AGENT, no name) → Agent workflow (CHAIN) → weather-agent → 2 turns → LLM and tool spans.
        Run(stack: "agents", spans: 8, aboveAgent: 2, agent: "weather-agent", session: "sess-1"),
        // Its metrics name only the response model.
        Run(stack: "traceloop", spans: 5, aboveAgent: 1, agent: "weather-agent", session: "sess-1", metricsModel: "gpt-4o-2024-08-06"),
        Run(stack: "langfuse", spans: 5, aboveAgent: 1, agent: "weather-agent", session: "sess-1"),
    ]

    /// gpt-4o at 2.5 USD per million input tokens (1.25 read from the cache) and 10 per million output
    /// tokens; everyone capped at 100 a day.
    static func yaml(_ dsn: String) -> String {
        otlpReceiverYAML(dsn: dsn)
            .replacingOccurrences(
                of: "processors:\n  seq:",
                with: """
                    processors:
                      budget:
                        daily_usd: { "*": 100 }
                        prices:
                          gpt-4o: { input: 2.5, output: 10, cache_read: 1.25 }
                          "*": { input: 1000, output: 1000 }
                      seq:
                    """
            )
            .replacingOccurrences(of: "processors: [seq, chain]", with: "processors: [budget, seq, chain]")
            + "\nui:\n  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n"
    }

    @Test(
        "one row per span, every parent a stored row, each row booked to its agent in the run's session, one tool row, per-row cost by the price table, no denial, spend = the rows' sum; the stack's GenAI metrics on the dashboard",
        arguments: runs, ["http", "grpc"])
    func wholeRun(_ run: Run, protocolName: String) async throws {
        try await Self.check(run, protocolName: protocolName)
    }

    @Test(
        "Langfuse's own exporter, given only the collector as its base URL and the workflow token as its secret key (Basic auth on /api/public/otel/v1/traces): the same whole run"
    )
    func langfuseOwnExporter() async throws {
        try await Self.check(Self.runs.first { $0.stack == "langfuse" }!, protocolName: "own")
    }

    /// Runs `run`'s stack over `protocolName` and checks what it became.
    static func check(_ run: Run, protocolName: String) async throws {
        let dsn = try await newDatabase()
        let model = try await FakeOpenAI.start()
        defer { model.stop() }
        try await RunningCollector.with(yaml: Self.yaml(dsn)) { collector in
            try await collector.waitUntilReady()
            let (status, lines) = try await runSDK(
                [run.stack, protocolName, collector.otlpEndpoint(protocolName == "own" ? "http" : protocolName), testToken, String(model.port)],
                script: "agent_stacks.py", python: try stackPython(run.stack))
            #expect(status == 0, "\(lines.joined(separator: "\n"))")
            let sent = try JSONParser.parse(try #require(lines.last))
            #expect(sent["ok"] == .bool(true) && sent["answer"] == .string("It is sunny in Paris."), "\(lines)")
            if sent["exported"] != .null {
                #expect(sent["exported"] == .number(String(run.spans)), "the stack's span count changed: update docs/agent-stacks.md")
            }
            #expect(try await tracesAssembled(dsn))

            let db = try PGConnection(dsn: dsn)
            func value(_ sql: String) throws -> String? { try db.exec(sql).rows.first?.first ?? nil }
            #expect(try value("SELECT count(*) FROM governance_audit_events") == String(run.spans), "one row per span")
            #expect(
                try value(
                    """
                    SELECT count(*) FROM governance_audit_events c WHERE c.parent_event_id IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM governance_audit_events p WHERE p.event_id = c.parent_event_id)
                    """) == "0", "every parent_event_id names a stored row")
            #expect(try value("SELECT count(*) FROM governance_audit_events WHERE parent_event_id IS NULL") == "1", "one root")
            #expect(try value("SELECT count(DISTINCT session_id) FROM governance_audit_events") == "1", "one session")
            if let session = run.session {
                #expect(
                    try value("SELECT DISTINCT session_id::text FROM governance_audit_events")
                        == OTLPMapping.derivedSession(workflow: "wf-otel", name: session).lowercasedString)
            }
            // The model calls and the tool call are the agent's; only the spans above it are the service's.
            #expect(
                try db.exec("SELECT agent_id, count(*) FROM governance_audit_events GROUP BY 1 ORDER BY 1").rows
                    == (run.aboveAgent > 0
                        ? [["weather-agent", String(run.spans - run.aboveAgent)], ["weather-app", String(run.aboveAgent)]]
                        : [["weather-app", String(run.spans)]]))
            #expect(
                try db.exec("SELECT agent_id FROM governance_audit_events WHERE metadata_json->>'tool' = 'get_weather'").rows == [[run.agent]],
                "one tool row, the agent's")
            // 100 in + 20 out, then 150 in (100 of them from the cache) + 30 out, at gpt-4o's price (the
            // response model is dated): 0.00045, then 50 × 2.5 + 100 × 1.25 + 30 × 10 per million, or
            // 150 × 2.5 + 30 × 10 when the stack does not say what was cached.
            let final = run.reportsCachedTokens ? ["0.00055", "100"] : ["0.000675", nil]
            #expect(
                try db.exec(
                    """
                    SELECT agent_id, metadata_json->>'cost_usd', metadata_json#>>'{cost_basis,price}', metadata_json#>>'{cost_basis,cache_read_tokens}'
                    FROM governance_audit_events WHERE model IS NOT NULL ORDER BY (metadata_json->>'cost_usd')::numeric
                    """
                ).rows == [[run.agent, "0.00045", "gpt-4o", nil], [run.agent, final[0], "gpt-4o", final[1]]])
            #expect(try value("SELECT count(*) FROM governance_audit_events WHERE decision = 'deny'") == "0")
            #expect(
                try value(
                    """
                    SELECT (SELECT sum((metadata_json->>'cost_usd')::numeric) FROM governance_audit_events)
                         = (SELECT sum(used_usd) FROM governance_budget_spend)
                    """) == "t", "the spend the dashboard shows is the sum of the rows")
            #expect(try await verifyCommand(dsn) == 0)

            // Token usage and call durations, per service and model, as the stack measured them.
            guard let metricsModel = run.metricsModel else {
                #expect(sent["metrics_ok"] == .null)
                return
            }
            #expect(sent["metrics_ok"] == .bool(true), "\(lines)")
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let page = try await ui.get("/?window=hour").text
            let row = try #require(UIClient.first(#"(<tr data-service="weather-app" data-model="\#(metricsModel)">.*?</tr>)"#, in: page), "\(page)")
            func cell(_ name: String) -> String? { UIClient.first(#"<td class="\#(name)">([^<]*)</td>"#, in: row) }
            #expect(cell("calls") == "2" && cell("input") == "250" && cell("output") == "50", "\(row)")
            #expect(cell("duration")?.hasSuffix(" s") == true, "\(row)")
        }
    }
}
