import AuditStore
import Config
import Crypto
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// The reference SDK's approval gates, bridged to the collector: the SDK from PyPI opens a gate
/// and waits; a person's verdict (through the store call the inbox makes) reaches `wait_for`.
@Suite("approval gates: the SDK's gate bridge")
struct GateBridgeTests {
    /// A database for the SDK's own tables: its audit table and its gates table, from the SDK's DDL.
    static func sdkDatabaseURL(overSocket: Bool = false) async throws -> String {
        try await CollectorTests.sdkDatabaseURL(
            ddl: try String(contentsOfFile: try sdkPackageFile("gates/ddl.sql"), encoding: .utf8), overSocket: overSocket)
    }

    /// A file of the installed SDK package.
    static func sdkPackageFile(_ path: String) throws -> String {
        let lib = URL(fileURLWithPath: try sdkPython()).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib")
        let python = try #require(try FileManager.default.contentsOfDirectory(atPath: lib.path).first { $0.hasPrefix("python3") })
        return lib.appendingPathComponent("\(python)/site-packages/codeatelier_governance/\(path)").path
    }

    /// The gates the collector keeps for `workflow`: request id → (status, decided_by).
    static func gates(_ dsn: String, workflow: String = "wf-test") async throws -> [String: (status: String, by: String?)] {
        try await offPool {
            var gates: [String: (status: String, by: String?)] = [:]
            for row in try PGConnection(dsn: dsn).exec(
                "SELECT request_id::text, status, decided_by FROM governance_gates WHERE workflow = $1", [workflow]
            ).rows {
                gates[row[0] ?? ""] = (row[1] ?? "", row[2])
            }
            return gates
        }
    }

    static func json(_ lines: [String]) -> [JSONValue] { lines.compactMap { $0.hasPrefix("{") ? try? JSONParser.parse($0) : nil } }

    @Test(
        "a person's verdict reaches the SDK's wait_for; the SDK's approval events arrive over the event bridge",
        arguments: [GateDecision.granted, .denied])
    func personDecides(_ verdict: GateDecision) async throws {
        let dsn = try await newDatabase()
        let sdkDatabase = try await Self.sdkDatabaseURL()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { running in
            try await running.waitUntilReady()
            let agent = Task {
                try await runSDK(["wait", sdkDatabase, running.eventsURL, testToken, auditSecret, "600", "120"], script: "sdk_gates.py")
            }
            // The card: the gate as the SDK forwarded it, pending.
            var open: [String: (status: String, by: String?)] = [:]
            #expect(
                try await eventually {
                    open = try await Self.gates(dsn); return !open.isEmpty
                })
            let id = try #require(open.keys.first)
            #expect(open[id]?.status == "pending")
            // Another workflow does not see it, and cannot tell it exists.
            let foreign = try await TestHTTP.request(
                "GET", "\(running.baseURL)/api/v1/bridge/gates/\(id)/resolution", headers: ["Authorization: Bearer \(otherToken)"])
            #expect(foreign.status == 404)

            let store = PostgresGates(database: AuditDatabase(dsn: dsn, logger: quietLogger))
            #expect(
                try await store.decide(UUID(uuidString: id)!, workflow: "wf-test", decision: verdict, by: "alice", reason: "checked the diff")
                    == .decided)
            // A second decision, by anyone, changes nothing.
            let other: GateDecision = verdict == .granted ? .denied : .granted
            #expect(
                try await store.decide(UUID(uuidString: id)!, workflow: "wf-test", decision: other, by: "bob", reason: nil)
                    == .alreadyDecided(verdict))

            let (status, lines) = try await agent.value
            #expect(status == 0, "\(lines)")
            let output = Self.json(lines)
            #expect(output.first?["request_id"]?.stringValue == id)
            #expect(output.contains { $0["result"]?.stringValue == verdict.rawValue })
            let stats = try #require(output.lazy.compactMap { $0["stats"] }.last)
            #expect(stats["disabled"] == .bool(false))
            #expect(stats["gate_requests_sent"] == .number("1"))
            #expect(try await Self.gates(dsn)[id]?.status == verdict.rawValue)
            #expect(try await Self.gates(dsn)[id]?.by == "alice")
            // The SDK's own audit rows for this gate came over its event bridge.
            let kinds = try await offPool {
                try PGConnection(dsn: dsn).exec(
                    "SELECT kind FROM governance_audit_events WHERE metadata_json->>'request_id' = $1 ORDER BY created_at", [id]
                ).rows.compactMap { $0[0] }
            }
            #expect(kinds == ["approval.requested", "approval.\(verdict.rawValue)"])
        }
    }

    @Test("a gate the SDK resolves locally with its own token closes on the collector (reverse sync)", arguments: [GateDecision.granted, .denied])
    func resolvedLocally(_ verdict: GateDecision) async throws {
        let dsn = try await newDatabase()
        let sdkDatabase = try await Self.sdkDatabaseURL()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { running in
            try await running.waitUntilReady()
            let (status, lines) = try await runSDK(
                ["local", sdkDatabase, running.eventsURL, testToken, auditSecret, verdict.rawValue], script: "sdk_gates.py")
            #expect(status == 0, "\(lines)")
            let output = Self.json(lines)
            let id = try #require(output.first?["request_id"]?.stringValue)
            let stats = try #require(output.lazy.compactMap { $0["stats"] }.last)
            #expect(stats["local_resolutions_sent"] == .number("1"))
            #expect(stats["disabled"] == .bool(false))
            let gate = try await Self.gates(dsn)[id]
            #expect(gate?.status == verdict.rawValue)
            #expect(gate?.by == "sdk_local")
        }
    }

    @Test("bad input gets a precise answer; an expired gate cannot be decided; only a bad token is 401")
    func refusals() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { running in
            try await running.waitUntilReady()
            let id = UUID().uuidString.lowercased()
            let url = "\(running.baseURL)/api/v1/bridge/gates/\(id)"
            func body(_ changes: [String: String?] = [:], expiresAt: String = "2099-01-01T00:00:00Z") -> String {
                var fields: [String: String?] = [
                    "request_id": id, "agent_id": "gate-agent", "kind": "deploy", "action_hash": String(repeating: "ab", count: 32),
                    "expires_at": expiresAt, "sdk_version": "0.7.3",
                ]
                fields.merge(changes) { _, new in new }
                let members = fields.sorted { $0.key < $1.key }.map { key, value in
                    JSONValue.Member(key, value.map(JSONValue.string) ?? .null)
                }
                var bytes: [UInt8] = []
                JSONValue.object(members).write(into: &bytes)
                return String(decoding: bytes, as: UTF8.self)
            }
            func refusal(_ result: HTTPResult) throws -> (Int, String?) { (result.status, try parseJSON(result)["field"]?.stringValue) }

            #expect(try refusal(await post(url, body(["action_hash": "xyz"]))) == (400, "action_hash"))
            #expect(try refusal(await post(url, body(["request_id": UUID().uuidString]))) == (400, "request_id"))
            #expect(try refusal(await post(url, body(["agent_id": nil]))) == (400, "agent_id"))
            #expect(try refusal(await post(url, body(["expires_at": "tomorrow"]))) == (400, "expires_at"))
            #expect(try refusal(await post("\(running.baseURL)/api/v1/bridge/gates/not-a-uuid", body())) == (400, "request_id"))
            #expect(try await post(url, "{", token: testToken).status == 400)
            // Only a bad token is 401 (the SDK latches its whole bridge off on 401/402).
            #expect(try await post(url, body(), token: "wf_wrong").status == 401)
            // Unknown: 404, which the SDK reads as pending.
            let resolution = "\(url)/resolution"
            #expect(try await TestHTTP.request("GET", resolution, headers: ["Authorization: Bearer \(testToken)"]).status == 404)

            #expect(try await post(url, body()).status == 201)
            #expect(try await post(url, body()).status == 409)
            let pending = try await TestHTTP.request("GET", resolution, headers: ["Authorization: Bearer \(testToken)"])
            #expect(pending.status == 200)
            #expect(try parseJSON(pending)["status"]?.stringValue == "pending")
            #expect(try parseJSON(pending)["decided_at"] == .null)
            #expect(try await TestHTTP.request("GET", resolution, headers: ["Authorization: Bearer \(otherToken)"]).status == 404)
            // The reverse sync: checked, then idempotent; the first verdict stands.
            let local = #"{"decision": "granted", "decided_at": "2026-12-07T10:00:00.123456Z", "by": "sdk_local"}"#
            #expect(try refusal(await post(resolution, local.replacingOccurrences(of: "granted", with: "maybe"))) == (400, "decision"))
            #expect(try refusal(await post(resolution, local.replacingOccurrences(of: "sdk_local", with: "me"))) == (400, "by"))
            #expect(try await post(resolution, local, token: otherToken).status == 404)
            #expect(try await post(resolution, local).status == 200)
            let denied = try await post(resolution, local.replacingOccurrences(of: "granted", with: "denied"))
            #expect(denied.status == 200)
            #expect(try parseJSON(denied)["status"]?.stringValue == "granted")
            let granted = try await TestHTTP.request("GET", resolution, headers: ["Authorization: Bearer \(testToken)"])
            #expect(try parseJSON(granted)["status"]?.stringValue == "granted")
            #expect(try parseJSON(granted)["decided_at"]?.stringValue == "2026-12-07T10:00:00.123456Z")

            // Expired while pending: a person can no longer decide it, and the SDK keeps seeing pending.
            let expired = UUID()
            #expect(
                try await post(
                    "\(running.baseURL)/api/v1/bridge/gates/\(expired.uuidString)",
                    body(["request_id": expired.uuidString], expiresAt: "2020-01-01T00:00:00Z")
                ).status == 201)
            let store = PostgresGates(database: AuditDatabase(dsn: dsn, logger: quietLogger))
            #expect(try await store.decide(expired, workflow: "wf-test", decision: .granted, by: "alice", reason: nil) == .expired)
            #expect(try await store.decide(UUID(), workflow: "wf-test", decision: .granted, by: "alice", reason: nil) == .unknown)
            let stillPending = try await TestHTTP.request(
                "GET", "\(running.baseURL)/api/v1/bridge/gates/\(expired.uuidString)/resolution", headers: ["Authorization: Bearer \(testToken)"])
            #expect(try parseJSON(stillPending)["status"]?.stringValue == "pending")
        }
    }

    @Test(
        "in headless Chromium a person grants one gate and denies another; each agent's wait_for gets the verdict; each decision is a chained audit event"
    )
    func inboxInABrowser() async throws {
        let dsn = try await newDatabase()
        let sdkDatabase = try await Self.sdkDatabaseURL(overSocket: true)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-approvals-\(UUID()).yaml").path
        let report = config + ".report.json", log = config + ".log"
        defer { for f in [config, report, log] { try? FileManager.default.removeItem(atPath: f) } }
        try privateNetworkYAML(dsn: dsn).write(toFile: config, atomically: true, encoding: .utf8)
        // One browser at a time (see BrowserTurn); one that hangs is killed before the next starts.
        let (status, output) = try await BrowserTurn.shared.script(
            [
                "unshare", "-n", "--", root + "/Tests/interop/private_network.sh", BinaryTests.binary, config, "http://127.0.0.1:8888/readyz",
                "--",
                try sdkPython(), root + "/Tests/interop/ui_approvals.py", "--ui", "http://127.0.0.1:8890", "--password", uiPassword,
                "--ingest", "http://127.0.0.1:4320", "--ingest-token", testToken, "--sdk-db", sdkDatabase, "--secret", auditSecret,
                "--out", report,
            ], log: log, environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret], within: 400)
        #expect(status == 0, "\(output.suffix(3000))")
        let facts = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: report))))
        for name in ["browser", "login", "granted", "denied"] {
            #expect(facts[name]?["error"] == nil, "\(name): \(facts[name]?["error"]?.stringValue ?? "") \(output.suffix(2000))")
        }
        for verdict in [GateDecision.granted, .denied] {
            let step = try #require(facts[verdict.rawValue])
            let id = try #require(step["request_id"]?.stringValue)
            // The open inbox showed the new card by itself.
            #expect(step["card_seen"] == .bool(true) && step["reloaded"] == .bool(false))
            #expect(step["card"]?["agent"]?.stringValue == "gate-agent" && step["card"]?["kind"]?.stringValue == "deploy.production")
            #expect(step["card"]?["action-hash"]?.stringValue?.count == 64)
            #expect(step["decided_row"]?.stringValue?.hasPrefix("\(verdict.rawValue) by admin at ") == true)
            #expect(step["still_pending"] == .bool(false))
            // The agent's wait_for returned the person's verdict, its bridge still on.
            #expect(step["sdk_result"]?.stringValue == verdict.rawValue)
            #expect(step["sdk_stats"]?["disabled"] == .bool(false))
            // The card's link shows the gate's events: the agent's request and verdict, and ours.
            #expect(
                step["event_kinds"]?.arrayValue?.compactMap(\.stringValue)
                    == ["approval.\(verdict.rawValue)", "approval.requested", "audit.approval.\(verdict.rawValue)"],
                "\(step["sdk_stats"].map { $0.serialized() } ?? "") \(step["sdk_warnings"].map { $0.serialized() } ?? "")")
            let gate = try await Self.gates(dsn)[id]
            #expect(gate?.status == verdict.rawValue && gate?.by == "admin")
            // The decision is our own event in the gate's workflow: who, which gate, the verdict,
            // and the reason only as its SHA-256.
            let row = try await offPool {
                try PGConnection(dsn: dsn).exec(
                    "SELECT agent_id, workflow, metadata_json::text, session_id::text FROM governance_audit_events WHERE kind = $1 AND metadata_json->>'request_id' = $2",
                    ["audit.approval.\(verdict.rawValue)", id]
                ).rows
            }
            #expect(row.count == 1)
            #expect(row.first?[0] == "governance.system" && row.first?[1] == "wf-test")
            let metadata = try JSONParser.parse(Array((row.first?[2] ?? "{}").utf8))
            #expect(metadata["decided_by"]?.stringValue == "admin")
            #expect(metadata["reason_sha256"]?.stringValue == SHA256.hash(data: Data("checked by the test (\(verdict.rawValue))".utf8)).hexString)
            #expect(row.first?[2]?.contains("checked by the test") == false)
            // Chained by the pipeline's chain stage: its session verifies.
            let session = try #require(row.first?[3].flatMap(UUID.init(uuidString:)))
            let verified = try verify(dsn, .init(session: session))
            #expect(verified.isClean && verified.rows == 1, "\(verified)")
        }
    }

    @Test("the dashboard counts the gates waiting, the oldest's wait and those about to expire; the inbox sorts them")
    func waitingOnTheDashboard() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { running in
            try await running.waitUntilReady()
            func open(expiresIn seconds: Double) async throws -> UUID {
                let id = UUID()
                let body = """
                    {"request_id": "\(id.uuidString)", "agent_id": "gate-agent", "kind": "deploy", "action_hash": "\(String(repeating: "cd", count: 32))",
                     "expires_at": "\(Timestamp(microseconds: Timestamp.now().microseconds + Int64(seconds * 1e6)).pythonISOFormat)", "sdk_version": "0.7.3"}
                    """
                #expect(try await post("\(running.baseURL)/api/v1/bridge/gates/\(id.uuidString)", body).status == 201)
                return id
            }
            let (later, soon, gone, decided) = (
                try await open(expiresIn: 3600), try await open(expiresIn: 120), try await open(expiresIn: -60), try await open(expiresIn: 3600)
            )
            let store = PostgresGates(database: AuditDatabase(dsn: dsn, logger: quietLogger))
            #expect(try await store.decide(decided, workflow: "wf-test", decision: .denied, by: "alice", reason: nil) == .decided)

            let ui = UIClient(base: try await running.timelineURL())
            try await ui.signIn()
            let dashboard = try await ui.get("/")
            #expect(UIClient.first(#"id="tile-gates-waiting" class="value">([^<]*)<"#, in: dashboard.text) == "2")
            #expect(UIClient.first(#"id="tile-gates-expiring" class="problem">([^<]*)<"#, in: dashboard.text) == "1")
            let inbox = try await ui.get("/approvals")
            func rows(_ table: String) -> [String] {
                let section = inbox.text.components(separatedBy: "<table id=\"\(table)\"").last?.components(separatedBy: "</table>").first ?? ""
                return UIClient.all(#"data-request-id="([^"]+)""#, in: section)
            }
            #expect(Set(rows("pending")) == [later.lowercasedString, soon.lowercasedString])
            #expect(rows("expired") == [gone.lowercasedString])
            #expect(rows("decided") == [decided.lowercasedString])
            #expect(inbox.text.contains(#"class="gate expires-soon" data-request-id="\#(soon.lowercasedString)""#))
            // The inbox refuses a verdict on an expired or already decided gate, and one without the form's CSRF token.
            let expired = try await ui.post("/approvals/wf-test/\(gone.uuidString)", [("decision", "granted")], csrfFrom: inbox)
            #expect(expired.status == 409 && expired.text.contains("expired"))
            let again = try await ui.post("/approvals/wf-test/\(decided.uuidString)", [("decision", "granted")], csrfFrom: inbox)
            #expect(again.status == 409 && again.text.contains("already denied"))
            #expect(try await ui.post("/approvals/wf-test/\(later.uuidString)", [("decision", "granted")], csrfFrom: nil).status == 403)
            #expect(try await Self.gates(dsn)[later.lowercasedString]?.status == "pending")
        }
    }

    @Test("two collectors behind one address: the gate lands on one, the polls on the other; of two verdicts at once, one stands")
    func twoCollectors() async throws {
        let dsn = try await newDatabase()
        let sdkDatabase = try await Self.sdkDatabaseURL()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { first in
            try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { second in
                try await first.waitUntilReady()
                try await second.waitUntilReady()
                let log = FileManager.default.temporaryDirectory.appendingPathComponent("gc-split-\(UUID()).log").path
                defer { try? FileManager.default.removeItem(atPath: log) }
                let proxy = try ChildProcess.spawn(
                    [try sdkPython(), root + "/Tests/interop/split_proxy.py", first.baseURL, second.baseURL], outputPath: log)
                defer { _ = proxy.stop() }
                func lines() -> [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
                #expect(try await eventually { lines().first?.hasPrefix("port ") == true })
                let port = try #require(lines().first.map { $0.dropFirst("port ".count) })
                let agent = Task {
                    try await runSDK(
                        ["wait", sdkDatabase, "http://127.0.0.1:\(port)/api/v1/ingest/events", testToken, auditSecret, "600", "120"],
                        script: "sdk_gates.py")
                }
                var open: [String: (status: String, by: String?)] = [:]
                #expect(
                    try await eventually {
                        open = try await Self.gates(dsn); return !open.isEmpty
                    })
                let id = try #require(open.keys.first.flatMap(UUID.init(uuidString:)))
                // Two people on the two collectors decide at the same moment: one verdict stands.
                let (a, b) = (
                    PostgresGates(database: AuditDatabase(dsn: dsn, logger: quietLogger)),
                    PostgresGates(database: AuditDatabase(dsn: dsn, logger: quietLogger))
                )
                async let granting = a.decide(id, workflow: "wf-test", decision: .granted, by: "alice", reason: nil)
                async let denying = b.decide(id, workflow: "wf-test", decision: .denied, by: "bob", reason: nil)
                let outcomes = [try await granting, try await denying]
                let winner: GateDecision = outcomes[0] == .decided ? .granted : .denied
                #expect(outcomes.filter { $0 == .decided }.count == 1)
                #expect(outcomes.contains(.alreadyDecided(winner)))

                let (status, output) = try await agent.value
                #expect(status == 0, "\(output)")
                #expect(Self.json(output).contains { $0["result"]?.stringValue == winner.rawValue })
                let path = "/api/v1/bridge/gates/\(id.uuidString.lowercased())"
                #expect(lines().contains("0 POST \(path) 201"))
                #expect(lines().contains("1 GET \(path)/resolution 200"))
                #expect(try await Self.gates(dsn)[id.uuidString.lowercased()]?.status == winner.rawValue)
            }
        }
    }
}
