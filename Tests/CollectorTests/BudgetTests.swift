import AuditStore
import Collector
import Config
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing

let webhookSecret = "whsec_budget_alerts_for_tests_4c1d"

/// Tests/interop/webhook_receiver.py: verifies each delivery with the reference SDK's
/// `verify_signature` and records it.
struct WebhookReceiver {
    let process: ChildProcess
    let directory: String
    let port: Int

    static func start(failFirst: Int = 0) async throws -> WebhookReceiver {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-webhook-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "interop/webhook_receiver.py"
        ).path
        let process = try ChildProcess.spawn(
            [try sdkPython(), script, directory + "/port", directory + "/deliveries", webhookSecret, String(failFirst)],
            outputPath: directory + "/log")
        guard try await eventually(60, { FileManager.default.fileExists(atPath: directory + "/port") }),
            let port = Int(try String(contentsOfFile: directory + "/port", encoding: .utf8))
        else {
            process.kill(SIGKILL)
            throw LocalPostgres.Failure(
                description: "webhook receiver did not start: \((try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "")")
        }
        return WebhookReceiver(process: process, directory: directory, port: port)
    }

    var url: String { "http://127.0.0.1:\(port)/hooks/budget" }

    /// Every request received so far, in order.
    func deliveries() throws -> [JSONValue] {
        guard let text = try? String(contentsOfFile: directory + "/deliveries", encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
    }

    func stop() {
        process.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Caps: agent-1 at 10 USD a day (alert at 8), everyone else at 1000.
func budgetYAML(dsn: String, webhookURL: String, webhookSettings: String = "") -> String {
    """
    receivers:
      ingest_http:
        endpoint: 127.0.0.1:0
        tokens:
          - { workflow: wf-test, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
    processors:
      budget:
        threshold_percent: 80
        daily_usd: { agent-1: 10, "*": 1000 }
      seq:
      chain: { secret: "\(auditSecret)" }
    exporters:
      postgres:
        dsn: "\(dsn)"
      budget_webhook:
        alert_webhook_url: "\(webhookURL)"
        alert_webhook_secret: "\(webhookSecret)"
        max_backoff: 0.2
        poll_interval: 0.05
        allow_loopback: true
    \(webhookSettings)
    service:
      pipelines:
        audit:
          receivers: [ingest_http]
          processors: [budget, seq, chain]
          exporters: [postgres, budget_webhook]
    """
}

/// An event the collector chains, costing `usd`.
func costEvent(id: UUID = UUID(), session: UUID, agent: String = "agent-1", usd: String) -> String {
    wireEvent(id: id, session: session, agent: agent, metadata: #"{"cost_usd":\#(usd)}"#, clientHMAC: false)
}

@Suite("budget alerts: spend and dedup in PostgreSQL, the SDK's signed webhook")
struct BudgetTests {
    @Test(
        "one alert per agent and day: signed as the SDK signs it, retried after a 500, recorded as a chained audit event, not repeated after a restart"
    )
    func onceAcrossRestart() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 1)
        defer { receiver.stop() }
        let dsn = try await newDatabase()
        let session = UUID()
        var ids: [UUID] = []
        let first = try await RunningCollector.start(yaml: budgetYAML(dsn: dsn, webhookURL: receiver.url))
        try await first.waitUntilReady()
        for _ in 0..<4 {
            ids.append(UUID())
            #expect(try await post(first.eventsURL, costEvent(id: ids.last!, session: session, usd: "3")).status == 201)
        }
        #expect(try await post(first.eventsURL, costEvent(session: UUID(), agent: "agent-2", usd: "500")).status == 201)
        #expect(try await eventually { try receiver.deliveries().count == 2 })
        let deliveries = try receiver.deliveries()
        #expect(deliveries.map { $0["status"] } == [.number("500"), .number("200")])
        for delivery in deliveries {
            #expect(delivery["header_verified"] == .bool(true))
            #expect(delivery["body_verified"] == .bool(true))
            #expect(delivery["event_header"] == .string("budget.threshold_crossed"))
        }
        let payload = try #require(deliveries[1]["payload"])
        #expect(payload["schema"] == .string("governance.cost.budget_alert/v1"))
        #expect(payload["event"] == .string("budget.threshold_crossed"))
        #expect(payload["agent_id"] == .string("agent-1"))
        #expect(payload["cap_id"] == .string("per_agent_usd_daily"))
        #expect(payload["cap_value"] == .number("10.0"))
        #expect(payload["used_value"] == .number("9.0"))
        #expect(payload["used_pct"] == .number("90.0"))
        #expect(payload["threshold_pct"] == .number("80"))
        #expect(payload["period_bucket"] == .string("2026-11-24"))
        #expect(payload["nonce"]?.stringValue?.count == 32)
        // A retry sends the same message, so a receiver can dedup on the nonce.
        #expect(deliveries[0]["payload"]?["nonce"] == payload["nonce"])
        #expect(try await scalar(dsn, "SELECT attempts || ' ' || (delivered_at IS NOT NULL) FROM governance_budget_alerts") == "2 true")

        // The crossing is in the audit log: right after the event that crossed, numbered and chained.
        #expect(
            try await scalar(
                dsn,
                """
                SELECT parent_event_id || ' ' || seq || ' ' || session_id FROM governance_audit_events WHERE kind = 'budget.threshold_crossed'
                """) == "\(ids[2].lowercasedString) 4 \(session.lowercasedString)")
        #expect(try await scalar(dsn, "SELECT seq FROM governance_audit_events WHERE event_id = '\(ids[3])'") == "5")
        #expect(try await verifyCommand(dsn) == 0)
        try await first.stop()

        // A restarted collector on the same database: more spend, no second alert.
        let second = try await RunningCollector.start(yaml: budgetYAML(dsn: dsn, webhookURL: receiver.url))
        try await second.waitUntilReady()
        for _ in 0..<3 { #expect(try await post(second.eventsURL, costEvent(session: session, usd: "3")).status == 201) }
        // Each answer came after its commit, where an alert is recorded or not: the outbox holds
        // the one delivered alert and nothing pending, so nothing more can be sent.
        #expect(try await scalar(dsn, "SELECT count(*) || ' ' || count(delivered_at) FROM governance_budget_alerts") == "1 1")
        #expect(try receiver.deliveries().count == 2)
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'budget.threshold_crossed'") == "1")
        #expect(try await scalar(dsn, "SELECT used_usd FROM governance_budget_spend WHERE agent_id = 'agent-1'") == "21")

        // An operator deletes the alert row to send it again: the next cost re-records and re-sends
        // it, and the audit log keeps its one alert event.
        _ = try PGConnection(dsn: dsn).exec("DELETE FROM governance_budget_alerts")
        #expect(try await post(second.eventsURL, costEvent(session: session, usd: "1")).status == 201)
        #expect(try await eventually { try receiver.deliveries().count == 3 })
        #expect(try receiver.deliveries().last?["payload"]?["used_value"] == .number("22.0"))
        #expect(try receiver.deliveries().last?["header_verified"] == .bool(true))
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'budget.threshold_crossed'") == "1")
        try await second.stop()
    }

    @Test("two collectors racing on one database send one alert between them")
    func twoInstancesRace() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let dsn = try await newDatabase()
        let a = try await RunningCollector.start(yaml: budgetYAML(dsn: dsn, webhookURL: receiver.url))
        let b = try await RunningCollector.start(yaml: budgetYAML(dsn: dsn, webhookURL: receiver.url))
        try await a.waitUntilReady()
        try await b.waitUntilReady()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<40 {
                let url = i % 2 == 0 ? a.eventsURL : b.eventsURL
                group.addTask { try await post(url, costEvent(session: UUID(), usd: "1")).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 201 })
        // Every event is committed (all answered), so the one alert row is all there is; it is
        // delivered with one attempt, and a delivery holds the row, so no second send can follow.
        #expect(try await eventually { try receiver.deliveries().count == 1 })
        #expect(try await eventually { try await scalar(dsn, "SELECT count(*) FROM governance_budget_alerts WHERE delivered_at IS NOT NULL") == "1" })
        #expect(try receiver.deliveries().count == 1)
        #expect(try receiver.deliveries().first?["payload"]?["used_value"] == .number("8.0"))
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'budget.threshold_crossed'") == "1")
        #expect(try await scalar(dsn, "SELECT count(*) || ' ' || sum(attempts) FROM governance_budget_alerts") == "1 1")
        #expect(try await scalar(dsn, "SELECT used_usd FROM governance_budget_spend") == "40")
        try await a.stop()
        try await b.stop()
    }

    @Test("the webhook URL passes the bridge's SSRF guard: refused at start-up by policy, and at connect time after DNS")
    func ssrfGuard() async throws {
        for url in ["https://10.0.0.7/hook", "https://169.254.169.254/latest", "http://hooks.example.com/hook", "https://[::ffff:127.0.0.1]/x"] {
            #expect {
                try CollectorPlan.parse(yaml: budgetYAML(dsn: "", webhookURL: url), file: "t.yaml", environment: [:])
            } throws: { error in
                "\(error)".contains("exporters.budget_webhook.alert_webhook_url") && "\(error)".contains("refused")
            }
        }
        // A public-looking name that resolves to loopback: refused when connecting; the alert waits, retried.
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(
            yaml: budgetYAML(
                dsn: dsn, webhookURL: "https://hooks.example.com:\(receiver.port)/hook",
                webhookSettings: "    resolve: [\"hooks.example.com:\(receiver.port):127.0.0.1\"]"))
        try await collector.waitUntilReady()
        #expect(try await post(collector.eventsURL, costEvent(session: UUID(), usd: "9")).status == 201)
        #expect(try await eventually { try await scalar(dsn, "SELECT attempts >= 2 FROM governance_budget_alerts") == "t" })
        #expect(try await scalar(dsn, "SELECT last_error FROM governance_budget_alerts")?.contains("127.0.0.1 refused by the egress policy") == true)
        #expect(try await scalar(dsn, "SELECT delivered_at IS NULL FROM governance_budget_alerts") == "t")
        #expect(try receiver.deliveries().isEmpty)
        try await collector.stop()
    }

    @Test("budget must come before seq and chain, with chain present; the webhook needs its secret")
    func configurationMistakes() throws {
        let yaml = budgetYAML(dsn: "", webhookURL: "https://hooks.example.com/budget")
        for (text, expected) in [
            (yaml.replacingOccurrences(of: "[budget, seq, chain]", with: "[seq, chain, budget]"), "after seq or chain"),
            (yaml.replacingOccurrences(of: "[budget, seq, chain]", with: "[budget, seq]"), "without chain"),
            (yaml.replacingOccurrences(of: "    alert_webhook_secret: \"\(webhookSecret)\"\n", with: ""), "alert_webhook_secret is required"),
            (yaml.replacingOccurrences(of: "daily_usd: { agent-1: 10, \"*\": 1000 }", with: "daily_usd: { agent-1: -3 }"), "daily_usd.agent-1"),
        ] {
            #expect {
                try CollectorPlan.parse(yaml: text, file: "t.yaml", environment: [:])
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
        #expect(throws: Never.self) { try CollectorPlan.parse(yaml: yaml, file: "t.yaml", environment: [:]) }
    }
}
