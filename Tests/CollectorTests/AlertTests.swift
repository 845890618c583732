import Alerts
import AuditStore
import Collector
import Config
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing
import Transparency

/// Alert rules on a real PostgreSQL. The rules' windows end at the instant the evaluation is
/// given, so time is the test's to move; notifications go to real receivers on loopback.
@Suite("alerts: each rule kind fires once and resolves once; notifications signed and shaped, sent once")
struct AlertTests {
    static let rulesYAML = """
        alerts:
          audit_events: false
          rules:
            tool-burst:
              select: { kind_prefix: "tool." }
              count: { window: 300, above: 2 }
            denials:
              ratio: { of: { decision: deny }, window: 300, above: 0.5, min_events: 4 }
            agent-spend:
              cost: { per: agent, window: 3600, above: 1.5 }
            session-spend:
              cost: { per: session, window: 3600, above: 1.6 }
            bad-signatures:
              health: invalid_signatures
              window: 300
            tampering:
              health: verification_failed
              severity: critical
            signer-stalled:
              health: signer_lag
              above: 600
            witness-behind:
              health: witness_lag
              above: 600
        """

    static func config(_ yaml: String, dsn: String) throws -> AlertsConfig {
        let plan = try CollectorPlan.parse(yaml: chainedYAML(dsn: dsn) + "\n" + yaml, file: "alerts.yaml", environment: [:])
        return try #require(plan.settings(of: "alerts", as: AlertsConfig.self))
    }

    static func event(
        _ at: Timestamp, agent: String = "agent-a", session: UUID = UUID(), kind: String = "tool.call", cost: String? = nil,
        decision: Decision? = nil, signature: String = "unsigned"
    ) -> AuditEvent {
        AuditEvent(
            eventID: UUID(), sessionID: session, agentID: agent, kind: kind, metadata: .object(cost.map { [.init("cost_usd", .number($0))] } ?? []),
            hmac: String(repeating: "ab", count: 32), createdAt: at, signatureStatus: signature, workflow: "wf", decision: decision)
    }

    /// Fired and resolved rule/subject pairs of one evaluation.
    static func evaluate(_ connection: PGConnection, _ config: AlertsConfig, at now: Timestamp) throws -> (fired: Set<String>, resolved: Set<String>)
    {
        let transitions = try #require(try AlertEvaluation(connection: connection, config: config, now: now).run()).transitions
        func names(_ fired: Bool) -> Set<String> {
            Set(transitions.filter { $0.fired == fired }.map { $0.subject.isEmpty ? $0.rule : "\($0.rule)/\($0.subject)" })
        }
        return (names(true), names(false))
    }

    @Test("count, ratio, cost per agent and per session, invalid signatures, a verification failure and a stalled signer: each once")
    func everyRuleKind() async throws {
        let dsn = try await newDatabase()
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        try CheckpointTables.migrate(connection)
        let config = try Self.config(Self.rulesYAML, dsn: dsn)
        let t0 = Timestamp(microseconds: 1_800_000_000_000_000)
        let minute: Int64 = 60_000_000
        let shared = UUID()
        // Within five minutes before t0: 3 tool calls (2 denied), 1 other event denied; $1 + $0.75
        // of agent-a in one session, $0.50 of agent-b; one event with a signature that failed.
        // Twenty minutes before: $0.25 more of agent-a, in a session of its own.
        let events = [
            Self.event(t0.adding(-4 * minute), session: shared, cost: "1", decision: .deny),
            Self.event(t0.adding(-3 * minute), session: shared, cost: "0.75", decision: .deny),
            Self.event(t0.adding(-2 * minute), agent: "agent-b", cost: "0.5", decision: .allow),
            Self.event(t0.adding(-1 * minute), kind: "llm.call", decision: .deny, signature: "invalid_signature"),
            Self.event(t0.adding(-20 * minute), kind: "tool.call", cost: "0.25"),
            // A cost no agent spends, which would overflow the sum: ignored, so the rule still works.
            Self.event(t0.adding(-1 * minute), agent: "agent-c", kind: "llm.call", cost: "1e400"),
        ]
        try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(events))
        // The signer has not taken any row in for an hour.
        try connection.exec("SET session_replication_role = replica")
        try connection.exec("UPDATE governance_audit_events SET received_at = now() - interval '1 hour'")
        try connection.exec("SET session_replication_role = DEFAULT")
        // A witness that has received nothing of a checkpoint signed an hour ago.
        try connection.exec(
            "INSERT INTO governance_checkpoints (tree_size, origin, root_hash, key_hash, note, created_at) VALUES (1, 'o', '', 'k', 'n', now() - interval '1 hour')"
        )
        try connection.exec("INSERT INTO governance_witness_deliveries (witness, delivered_size) VALUES ('https://witness.example', 0)")
        try connection.exec(
            "INSERT INTO governance_verification_state (tree_size, cursor_txid, cursor_chain_seq, frontier, checked_size, rows_checked, failure) VALUES (0, '0', 0, '', 0, 0, 'first divergent leaf 3')"
        )

        let first = try Self.evaluate(connection, config, at: t0)
        #expect(
            first.fired == [
                "tool-burst", "denials", "agent-spend/agent-a", "session-spend/\(shared.lowercasedString)", "bad-signatures", "tampering",
                "signer-stalled", "witness-behind/https://witness.example",
            ],
            "\(first.fired.sorted())")
        #expect(first.resolved.isEmpty)
        let again = try Self.evaluate(connection, config, at: t0.adding(1_000_000))
        #expect(again.fired.isEmpty && again.resolved.isEmpty, "a rule that fired does not fire again while it holds: \(again)")

        // An hour on: every window is past its events; the verifier's failure is cleared; the signer caught up.
        try connection.exec("DELETE FROM governance_verification_state")
        var signing = CheckpointsConfig(signer: try NoteSigner.generate(name: "alerts.example/audit"))
        signing.maxEvents = 5
        // The signer reads only rows older than every running transaction of the cluster (other tests' too): wait for it.
        try connection.exec("UPDATE governance_witness_deliveries SET delivered_size = 1")
        let caughtUp = try await eventually(60) {
            _ = try CheckpointStep(store: CheckpointStore(connection: connection), config: signing).run()
            return try AlertMeasures.signerLagSeconds(on: connection) == 0
        }
        #expect(caughtUp)
        let later = try Self.evaluate(connection, config, at: t0.adding(61 * minute))
        #expect(later.fired.isEmpty, "\(later.fired.sorted())")
        #expect(later.resolved == first.fired, "\(later.resolved.sorted())")
        let quiet = try Self.evaluate(connection, config, at: t0.adding(62 * minute))
        #expect(quiet.fired.isEmpty && quiet.resolved.isEmpty)

        // A burst an hour on fires again: the cooldown counts from the last firing, long past.
        func burst(at minutes: Int64) throws {
            try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode((0..<3).map { _ in Self.event(t0.adding(minutes * minute)) }))
        }
        try burst(at: 62)
        #expect(try Self.evaluate(connection, config, at: t0.adding(63 * minute)).fired == ["tool-burst"])
        #expect(try Self.evaluate(connection, config, at: t0.adding(69 * minute)).resolved == ["tool-burst"])
        // Another within 15 minutes of that firing is held back by the cooldown; one after it fires.
        try burst(at: 70)
        #expect(try Self.evaluate(connection, config, at: t0.adding(71 * minute)).fired.isEmpty)
        try burst(at: 76)
        #expect(try Self.evaluate(connection, config, at: t0.adding(79 * minute)).fired == ["tool-burst"])
    }

    @Test("a rule naming a destination that is not configured, two measures in one rule, a bad severity: each refused by name")
    func configMistakes() async throws {
        let dsn = try await newDatabase()
        func refused(_ yaml: String) throws -> ConfigError {
            try #require(throws: ConfigError.self) {
                try CollectorPlan.parse(yaml: chainedYAML(dsn: dsn) + "\n" + yaml, file: "a.yaml", environment: [:])
            }
        }
        let unknown = try refused("alerts:\n  rules:\n    r: { count: { above: 1 }, destinations: [nowhere] }")
        #expect(unknown.key == "alerts.rules.r.destinations" && unknown.problem.contains("`nowhere`"), "\(unknown)")
        let both = try refused("alerts:\n  rules:\n    r: { count: { above: 1 }, health: signer_lag }")
        #expect(both.key.hasPrefix("alerts.rules.r.") && both.problem.contains("both set"), "\(both)")
        let loud = try refused("alerts:\n  rules:\n    r: { count: { above: 1 }, severity: loud }")
        #expect(loud.key == "alerts.rules.r.severity" && loud.fix.contains("critical"), "\(loud)")
        let http = try refused("alerts:\n  destinations:\n    d: { type: slack, url: 'http://10.0.0.1/hook' }")
        #expect(http.key == "alerts.destinations.d.url" && http.problem.contains("refused"), "\(http)")
    }
}

extension AlertTests {
    @Test(
        "two collectors on one database: a denial rate fires once and resolves once, each delivered once to a signed webhook (checked by the SDK), Slack, PagerDuty and e-mail, after a refused first attempt; each is an audit event"
    )
    func deliveredOnceFromTwoCollectors() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 1)
        defer { receiver.stop() }
        let dsn = try await newDatabase()
        let url = receiver.url
        let mail = try await MailSink.start()
        defer { mail.stop() }
        let yaml =
            timelineYAML(dsn: dsn) + """

                alerts:
                  interval: 0.2
                  destinations:
                    hook: { type: webhook, url: "\(url)", secret: "\(webhookSecret)", allow_loopback: true }
                    chat: { type: slack, url: "\(url)", allow_loopback: true }
                    pager: { type: pagerduty, url: "\(url)", routing_key: "R0UTINGKEY", allow_loopback: true }
                    mail: { type: email, smtp_url: "smtp://127.0.0.1:\(mail.port)", from: alerts@example.com, to: [oncall@example.com, lead@example.com] }
                  rules:
                    denials:
                      select: { kind_prefix: "tool." }
                      ratio: { of: { decision: deny }, window: 86400, above: 0.5, min_events: 2 }
                      severity: critical
                      cooldown: 3600
                      message: tool calls denied
                      resolve_message: back to normal
                      destinations: [hook, chat, pager, mail]
                """
        try await RunningCollector.with(yaml: yaml) { first in
            try await RunningCollector.with(yaml: yaml) { second in
                try await first.waitUntilReady()
                try await second.waitUntilReady()
                // Two denials, one through each collector: all of the (at least 2) events denied.
                try await Self.post(["tool.call.denied"], to: first)
                try await Self.post(["tool.call.denied"], to: second)
                #expect(try await Self.firing(dsn, "denials"), "the denial rate did not fire")
                // Three allowed: two of five denied, under half.
                try await Self.post(["tool.call.granted", "tool.call.granted", "tool.call.granted"], to: first)
                // Fired and resolved, 3 HTTP destinations each; one refused attempt retried.
                let done = try await eventually(60) { try receiver.deliveries().filter { $0["status"] == .number("200") }.count >= 6 }
                #expect(done, "\((try? receiver.deliveries()) ?? [])")
                // Both evaluators keep running: nothing more arrives.
                let evaluatedAgain = try await eventually(60) {
                    try PGConnection(dsn: dsn).exec("SELECT count(*) FROM governance_alert_deliveries WHERE delivered_at IS NULL").rows.first?[0]
                        == "0"
                }
                #expect(evaluatedAgain)
                // The dashboard lists the rule's state and every notification's delivery.
                let ui = UIClient(base: try await first.timelineURL())
                try await ui.signIn()
                let html = try await ui.get("/").text
                let rule = UIClient.first(#"<tr data-rule="denials">(.*?)</tr>"#, in: html) ?? "(no row)"
                #expect(rule.contains(#"<td class="state ">resolved</td>"#), "\(rule)")
                let notifications = UIClient.all(
                    #"(<tr><td>denials</td><td>—</td><td>(?:fired|resolved)</td><td>[a-z]+</td><td class="state">[^<]*</td></tr>)"#, in: html)
                #expect(notifications.count == 8 && notifications.allSatisfy { $0.contains(">delivered<") }, "\(notifications)")
            }
        }
        let received = try receiver.deliveries()
        let delivered = received.filter { $0["status"] == .number("200") }
        #expect(delivered.count == 6 && received.count == 7, "\(received)")
        func payloads(_ where: (JSONValue) -> Bool) -> [JSONValue] { delivered.compactMap { $0["payload"] }.filter(`where`) }
        let hooks = delivered.filter { $0["payload"]?["type"] == .string("governance.alert/v1") }
        #expect(hooks.count == 2)
        for (hook, state) in zip(hooks, ["fired", "resolved"]) {
            #expect(hook["header_verified"] == .bool(true) && hook["body_verified"] == .bool(true), "\(hook)")
            #expect(hook["event_header"] == .string("governance.alert.\(state)"))
            #expect(hook["payload"]?["state"] == .string(state) && hook["payload"]?["rule"] == .string("denials"))
            #expect(hook["payload"]?["severity"] == .string("critical"))
            // Resolved at 2 of 4 denied, or 2 of 5 if the evaluator saw the last two allowed together.
            let value = hook["payload"]?["value"]
            #expect(state == "fired" ? value == .number("1") : [.number("0.5"), .number("0.4")].contains(value), "\(hook)")
            #expect(hook["payload"]?["message"] == .string(state == "fired" ? "tool calls denied" : "back to normal"))
        }
        let slack = payloads { $0["text"] != nil }.compactMap { payload -> String? in
            if case .string(let text)? = payload["text"] { return text }
            return nil
        }
        #expect(
            slack.count == 2 && slack[0].hasPrefix("[CRITICAL] denials fired: ratio 1, above 0.5") && slack[1].contains("denials resolved"),
            "\(slack)")
        let pages = payloads { $0["routing_key"] != nil }
        #expect(pages.map { $0["event_action"] } == [.string("trigger"), .string("resolve")], "\(pages)")
        #expect(pages.allSatisfy { $0["dedup_key"] == .string("governance-collector/denials/") && $0["routing_key"] == .string("R0UTINGKEY") })
        #expect(pages.first?["payload"]?["severity"] == .string("critical") && pages.first?["payload"]?["source"] == .string("governance-collector"))

        let kinds = try PGConnection(dsn: dsn).exec(
            "SELECT kind, count(*) FROM governance_audit_events WHERE kind LIKE 'audit.alert.%' GROUP BY kind ORDER BY kind"
        ).rows.map { "\($0[0] ?? "") \($0[1] ?? "")" }
        #expect(kinds == ["audit.alert.delivered 8", "audit.alert.fired 1", "audit.alert.resolved 1"], "\(kinds)")
        let mails = mail.messages()
        #expect(mails.count == 4, "\(mails)")
        #expect(mails.filter { $0.hasPrefix("from alerts@example.com\nto oncall@example.com\n") }.count == 2)
        #expect(mails.filter { $0.contains("Subject: [CRITICAL] denials fired: ratio 1, above 0.5") }.count == 2, "\(mails)")
        #expect(mails.filter { $0.contains("Subject: [CRITICAL] denials resolved") && $0.contains("back to normal") }.count == 2)
    }
}

extension AlertTests {
    @Test("the evaluator killed (SIGKILL) while a firing's delivery is being retried: after a restart, no duplicate and nothing missed")
    func killedMidWindow() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 2)
        defer { receiver.stop() }
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("gc-alerts-\(UUID()).yaml").path
        try
            (chainedYAML(dsn: dsn, port: port) + """

                alerts:
                  interval: 0.2
                  destinations:
                    hook: { type: webhook, url: "\(receiver.url)", secret: "\(webhookSecret)", allow_loopback: true }
                  rules:
                    denials:
                      ratio: { of: { decision: deny }, window: 86400, above: 0.5, min_events: 2 }
                      destinations: [hook]
                """).write(toFile: configFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: configFile) }
        let url = "http://127.0.0.1:\(port)"

        let first = try spawnCollector(config: configFile)
        #expect(try await waitForReady(url, seconds: 60))
        try await Self.post(["tool.call.denied", "tool.call.denied"], to: url + IngestHTTPReceiver.eventsPath)
        let db = try PGConnection(dsn: dsn)
        // Fired, its first attempt refused and waiting for its retry.
        let retrying = try await eventually(60) {
            (try? db.exec("SELECT 1 FROM governance_alert_deliveries WHERE destination = 'hook' AND attempts >= 1 AND delivered_at IS NULL").rows
                .count)
                == 1
        }
        #expect(retrying)
        #expect(first.stop(SIGKILL) == 128 + SIGKILL)

        let second = try spawnCollector(config: configFile)
        defer { second.stop(SIGTERM) }
        #expect(try await waitForReady(url, seconds: 60))
        // Still firing after the restart; allowed events make it resolve.
        try await Self.post(["tool.call.granted", "tool.call.granted", "tool.call.granted"], to: url + IngestHTTPReceiver.eventsPath)
        let both = try await eventually(90) { try receiver.deliveries().filter { $0["status"] == .number("200") }.count >= 2 }
        #expect(both, "\((try? receiver.deliveries()) ?? [])")
        let settled = try await eventually(60) {
            try db.exec("SELECT count(*) FROM governance_alert_deliveries WHERE delivered_at IS NULL").rows.first?[0] == "0"
        }
        #expect(settled)
        let delivered = try receiver.deliveries().filter { $0["status"] == .number("200") }
        #expect(delivered.compactMap { $0["payload"]?["state"] } == [.string("fired"), .string("resolved")], "\(delivered)")
        #expect(delivered.allSatisfy { $0["header_verified"] == .bool(true) })
        let kinds = try db.exec("SELECT kind, count(*) FROM governance_audit_events WHERE kind LIKE 'audit.alert.%' GROUP BY kind ORDER BY kind").rows
            .map { "\($0[0] ?? "") \($0[1] ?? "")" }
        #expect(kinds == ["audit.alert.delivered 2", "audit.alert.fired 1", "audit.alert.resolved 1"], "\(kinds)")
    }
}

extension AlertTests {
    @Test("a destination gets a rule's notifications in order: a resolution waits while its firing's delivery is being retried")
    func resolutionWaitsForItsFiring() async throws {
        let dsn = try await newDatabase()
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        let now = Timestamp.now()
        func transition(_ fired: Bool) -> AlertTables.Transition {
            AlertTables.Transition(rule: "r", subject: "", fired: fired, value: 1, alert: "{}", destinations: ["hook", "other"])
        }
        try AlertTables.record([transition(true)], at: now, on: connection)
        let firing = try #require(try AlertTables.claimDue(lease: 60, on: connection))
        #expect(firing.transition == "fired" && firing.destination == "hook")
        try AlertTables.deliveryFailed(firing, reason: "HTTP 500", retryIn: 3600, on: connection)
        let other = try #require(try AlertTables.claimDue(lease: 60, on: connection))
        #expect(other.destination == "other" && other.transition == "fired")
        try AlertTables.delivered(other, on: connection)
        try AlertTables.record([transition(false)], at: now, on: connection)
        let next = try #require(try AlertTables.claimDue(lease: 60, on: connection), "the other destination's resolution is due")
        #expect(next.destination == "other" && next.transition == "resolved")
        try AlertTables.delivered(next, on: connection)
        #expect(try AlertTables.claimDue(lease: 60, on: connection) == nil, "hook's resolution must wait for hook's firing")
    }
}

extension AlertTests {
    /// Events of these kinds, now, through the collector at `url`.
    static func post(_ kinds: [String], to url: String) async throws {
        for kind in kinds {
            let body = wireEvent(kind: kind, clientHMAC: false).replacingOccurrences(
                of: "2026-11-24T12:00:00.000120+00:00", with: Timestamp.now().pythonISOFormat)
            let response = try await CollectorTests.post(url, body)
            #expect(response.status == 201, "\(response.text)")
        }
    }

    static func post(_ kinds: [String], to collector: RunningCollector) async throws {
        try await post(kinds, to: collector.eventsURL)
    }

    /// Waits until the rule's state (whole-database subject) says firing.
    static func firing(_ dsn: String, _ rule: String) async throws -> Bool {
        let connection = try PGConnection(dsn: dsn)
        return try await eventually(60) {
            try connection.exec("SELECT firing FROM governance_alert_state WHERE rule = $1 AND subject = ''", [rule]).rows.first?[0] == "t"
        }
    }
}

extension Timestamp {
    func adding(_ microseconds: Int64) -> Timestamp { Timestamp(microseconds: self.microseconds + microseconds) }
}

/// Tests/interop/smtp_sink.py (aiosmtpd from PyPI): keeps each message it receives.
struct MailSink {
    let process: ChildProcess
    let directory: String
    let port: Int

    static func start() async throws -> MailSink {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-mail-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = directory + ".log"
        let process = try ChildProcess.spawn([try sdkPython(), root + "/Tests/interop/smtp_sink.py", directory], outputPath: log)
        guard try await eventually(60, { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").hasPrefix("port ") }),
            let port = Int(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").first?.dropFirst("port ".count) ?? "")
        else {
            process.kill(SIGKILL)
            throw LocalPostgres.Failure(description: "smtp_sink.py did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return MailSink(process: process, directory: directory, port: port)
    }

    /// Each message kept, its envelope on the first two lines.
    func messages() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }
            .compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
    }

    func stop() {
        _ = process.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: directory + ".log")
    }
}
