import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing
import Timeline

let uiPassword = "ui-admin-password-for-tests-7e2b"

/// `chainedYAML` plus the timeline UI on a free loopback port with an admin password.
func timelineYAML(dsn: String, ui: String = "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"") -> String {
    chainedYAML(dsn: dsn) + "\nui:\n" + ui + "\n"
}

/// A chained collector with the UI, for a run in a network namespace of its own with its clients
/// (`private_network.sh`): fixed ports, as nothing else listens there (ingest 4320, UI 8890,
/// metrics 8888).
func privateNetworkYAML(dsn: String) -> String {
    timelineYAML(dsn: dsn, ui: "  endpoint: 127.0.0.1:8890\n  admin_password: \"\(uiPassword)\"")
        .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:4320")
        .replacingOccurrences(
            of: "service:\n  pipelines:", with: "service:\n  telemetry: { metrics: { endpoint: \"127.0.0.1:8888\" } }\n  pipelines:")
}

extension Collector {
    /// The `ui` extension (tests read its port).
    var timeline: TimelineServer? { extensions["ui"] as? TimelineServer }
}

extension RunningCollector {
    func timelineURL() async throws -> String {
        let ui = try #require(collector.timeline)
        for _ in 0..<6000 {
            if let port = ui.port { return "http://127.0.0.1:\(port)" }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw LocalPostgres.Failure(description: "the UI did not start listening")
    }
}

/// A browser's part, done by hand: keeps the session cookie and fills in the CSRF token.
final class UIClient: @unchecked Sendable {
    let base: String
    var cookie: String?

    init(base: String) { self.base = base }

    func get(_ path: String, headers: [String] = []) async throws -> HTTPResult {
        try remember(await TestHTTP.request("GET", base + path, headers: headers + (cookie.map { ["Cookie: gc_session=\($0)"] } ?? [])))
    }

    /// Posts a form; `csrfFrom` is the page whose form token to send (nil: none).
    func post(_ path: String, _ fields: [(String, String)], csrfFrom page: HTTPResult?) async throws -> HTTPResult {
        var all = fields
        if let page, let token = Self.csrf(page.text) { all.append(("csrf", token)) }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        return try remember(
            await TestHTTP.request(
                "POST", base + path,
                headers: ["Content-Type: application/x-www-form-urlencoded"]
                    + (cookie.map { ["Cookie: gc_session=\($0)"] } ?? []), body: Array(body.utf8)))
    }

    /// Signs in as `name` (the bootstrap admin unless given).
    func signIn(name: String? = nil, password: String = uiPassword) async throws {
        let login = try await get("/login")
        let answer = try await post("/login", (name.map { [("name", $0)] } ?? []) + [("password", password)], csrfFrom: login)
        #expect(answer.status == 303 && answer.headers["location"] == "/timeline", "\(answer.status) \(answer.text)")
    }

    private func remember(_ result: HTTPResult) -> HTTPResult {
        if let set = result.headers["set-cookie"], let value = set.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last {
            cookie = String(value)
        }
        return result
    }

    static func csrf(_ html: String) -> String? { first(#"name="csrf" value="([^"]+)""#, in: html) }

    static func first(_ pattern: String, in text: String) -> String? {
        all(pattern, in: text).first
    }

    static func all(_ pattern: String, in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}

@Suite("timeline UI: access, tokens, pages")
struct TimelineHTTPTests {
    @Test("sign-in, signed session cookie, CSRF on every form, a strict CSP; the admin token works as a bearer")
    func accessControl() async throws {
        let dsn = try await newDatabase()
        let adminToken = "ui-admin-token-for-tests-0123456789abcdef"
        try await RunningCollector.with(
            yaml: timelineYAML(
                dsn: dsn,
                ui: """
                      endpoint: 127.0.0.1:0
                      admin_password: "\(uiPassword)"
                      admin_token: "\(adminToken)"
                    """)
        ) { collector in
            try await collector.waitUntilReady()
            let ui = UIClient(base: try await collector.timelineURL())

            let anonymous = try await ui.get("/timeline")
            #expect(anonymous.status == 303 && anonymous.headers["location"] == "/login")
            #expect(
                anonymous.headers["set-cookie"]?.hasSuffix("; Path=/; HttpOnly; SameSite=Strict") == true, "a visitor's cookie ends with the browser")
            #expect(try await ui.get("/stream").status == 401)
            let login = try await ui.get("/login")
            #expect(login.status == 200 && !login.text.contains("login-error"))
            #expect(login.headers["content-security-policy"] == TimelineServer.contentSecurityPolicy)
            let wrong = try await ui.post("/login", [("password", "not-the-password")], csrfFrom: login)
            #expect(wrong.status == 401 && wrong.text.contains(#"id="login-error""#))
            let noCSRF = try await ui.post("/login", [("password", uiPassword)], csrfFrom: nil)
            #expect(noCSRF.status == 403)
            #expect(try await ui.get("/timeline").status == 303, "neither attempt signed in")

            try await ui.signIn()
            let timeline = try await ui.get("/timeline")
            #expect(timeline.status == 200 && timeline.text.contains(#"id="timeline""#))
            // Every response is locked down: no inline script or style is allowed to run.
            #expect(
                timeline.headers["content-security-policy"]
                    == "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            )
            #expect(timeline.headers["x-frame-options"] == "DENY" && timeline.headers["cache-control"] == "no-store")
            #expect(!timeline.text.contains("<script>") && !timeline.text.contains("style="))

            // A state-changing form without its token (a forged cross-site post) changes nothing.
            let forged = try await ui.post("/workflows/tokens", [("workflow", "forged")], csrfFrom: nil)
            #expect(forged.status == 403)
            let tampered = try await ui.post("/workflows/tokens", [("workflow", "forged"), ("csrf", "AAAA")], csrfFrom: nil)
            #expect(tampered.status == 403)
            // A token from another session does not pass either.
            let other = UIClient(base: ui.base)
            try await other.signIn()
            let otherPage = try await other.get("/workflows")
            let crossed = try await ui.post("/workflows/tokens", [("workflow", "forged"), ("csrf", UIClient.csrf(otherPage.text)!)], csrfFrom: nil)
            #expect(crossed.status == 403)
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_workflow_tokens") == "0")
            // A cookie that names no live session is a stranger's.
            let forgedCookie = UIClient(base: ui.base)
            forgedCookie.cookie = String(ui.cookie!.dropLast(2)) + "xx"
            #expect(try await forgedCookie.get("/timeline").status == 303)

            #expect(try await TestHTTP.request("GET", ui.base + "/workflows", headers: ["Authorization: Bearer \(adminToken)"]).status == 200)
            #expect(try await TestHTTP.request("GET", ui.base + "/workflows", headers: ["Authorization: Bearer \(adminToken)x"]).status == 303)

            let logout = try await ui.post("/logout", [], csrfFrom: timeline)
            #expect(logout.status == 303 && logout.headers["location"] == "/login")
            #expect(try await ui.get("/timeline").status == 303)
        }
    }

    @Test("without credentials: open on loopback, but only to a loopback Host (no DNS rebinding); a busy port stops start-up")
    func openOnLoopback() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn, ui: "  endpoint: 127.0.0.1:0")) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let page = try await TestHTTP.request("GET", base + "/timeline")
            #expect(page.status == 200 && !page.text.contains("id=\"logout\""))
            let rebound = try await TestHTTP.request("GET", base + "/timeline", headers: ["Host: attacker.example:8890"])
            #expect(rebound.status == 421 && rebound.text.contains("loopback Host"))
            #expect(try await TestHTTP.request("GET", base + "/timeline", headers: ["Host: localhost"]).status == 200)

            // Another collector asked to serve its UI on the same port fails instead of running without it.
            let port = try #require(collector.collector.timeline?.port)
            let plan = try CollectorPlan.parse(
                yaml: timelineYAML(dsn: dsn, ui: "  endpoint: 127.0.0.1:\(port)"), file: "busy.yaml",
                environment: ["GOVERNANCE_METRICS_ENDPOINT": "127.0.0.1:0"])
            let busy = try Collector(plan: plan, logger: quietLogger, handleSignals: false)
            await #expect(throws: (any Error).self) { try await busy.run() }
        }
    }

    @Test(
        "tokens issued in the UI: shown once, stored as SHA-256 only, accepted by ingest, refused with 401 after revoking, also by a second collector; YAML tokens keep working"
    )
    func managedTokens() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            // The second collector's time is the test's: its token refreshes happen when the test moves its clock.
            let secondClock = TestClock()
            try await RunningCollector.with(yaml: collectorYAML(dsn: dsn), clock: secondClock) { second in
                try await second.waitUntilReady()
                // Its first read of the tokens is done when its refresher sleeps until the clock's first second.
                #expect(try await eventually(30) { secondClock.sleepers(dueAt: .seconds(1)) == 1 })
                let ui = UIClient(base: try await collector.timelineURL())
                try await ui.signIn()

                let before = try await ui.get("/workflows")
                let invalid = try await ui.post("/workflows/tokens", [("workflow", "bad name!")], csrfFrom: before)
                #expect(invalid.status == 400 && invalid.text.contains(#"id="token-error""#))
                let issued = try await ui.post("/workflows/tokens", [("workflow", "wf-ui")], csrfFrom: before)
                #expect(issued.status == 200)
                let token = try #require(UIClient.first(#"<code id="new-token">([^<]+)</code>"#, in: issued.text))
                #expect(token.hasPrefix("wf_") && token.count == 46)
                let fingerprint = try #require(UIClient.first(#"tr class="token" data-fingerprint="([0-9a-f]{12})""#, in: issued.text))

                // Only the digest is in the database; the token appears on no other page.
                #expect(
                    try await scalar(dsn, "SELECT encode(token_sha256, 'hex') FROM governance_workflow_tokens") == WorkflowTokens.sha256Hex(token))
                #expect(try await scalar(dsn, "SELECT count(*) FROM governance_workflow_tokens t WHERE t::text LIKE '%\(token)%'") == "0")
                let later = try await ui.get("/workflows")
                #expect(!later.text.contains(token) && !later.text.contains("token-error") && !later.text.contains("new-token"))
                #expect(later.text.contains(#"<tr data-workflow="wf-ui">"#))

                #expect(try await post(collector.eventsURL, wireEvent(), token: token).status == 201)
                #expect(try await scalar(dsn, "SELECT workflow FROM governance_audit_events WHERE kind NOT LIKE 'access.%'") == "wf-ui")
                // Another collector on the same database picks the token up at its next refresh, and not before.
                #expect(try await post(second.eventsURL, wireEvent(), token: token).status == 401, "its clock has not reached the refresh")
                secondClock.advance(by: .seconds(1))
                #expect(try await eventually(30) { try await post(second.eventsURL, wireEvent(), token: token).status == 201 })
                #expect(try await eventually(30) { secondClock.sleepers(dueAt: .seconds(2)) == 1 })

                let revoked = try await ui.post("/tokens/\(fingerprint)/revoke", [], csrfFrom: later)
                #expect(revoked.status == 303)
                let refused = try await post(collector.eventsURL, wireEvent(), token: token)
                #expect(refused.status == 401, "revoked: refused from the moment the UI answers")
                #expect(try parseJSON(refused)["message"]?.stringValue == "unknown or revoked token")
                #expect(
                    try await post(second.eventsURL, wireEvent(), token: token).status == 201,
                    "the other collector holds the tokens it last read until its next refresh")
                secondClock.advance(by: .seconds(1))
                #expect(try await eventually(30) { try await post(second.eventsURL, wireEvent(), token: token).status == 401 })
                #expect(try await post(collector.eventsURL, wireEvent()).status == 201, "the YAML token still works")
                let listed = try await ui.get("/workflows")
                #expect(UIClient.first(#"data-fingerprint="\#(fingerprint)".*?<td class="status">(\w+)</td>"#, in: listed.text) == "revoked")
                let stored = try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE workflow = 'wf-ui'")
                #expect(UIClient.first(#"<tr data-workflow="wf-ui">.*?<td class="count">(\d+)</td>"#, in: listed.text) == stored)
            }
        }
    }

    @Test("keyset pages walk every event once, newest first; filters by workflow, agent, kind prefix, decision and time")
    func pagingAndFilters() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(
            yaml: timelineYAML(dsn: dsn, ui: "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n  page_size: 50")
        ) { collector in
            try await collector.waitUntilReady()
            let kinds = ["tool.call", "tool.result", "policy.denied", "access.granted"]
            // 430 events over 7 agents; equal created_at values across events test the tie-break on event_id.
            var all: [(id: UUID, agent: String, kind: String, micros: Int64)] = []
            for batch in 0..<2 {
                var lines: [String] = []
                for i in 0..<215 {
                    let n = batch * 215 + i
                    let id = UUID(), agent = "agent-\(n % 7)", kind = kinds[n % 4]
                    let micros = Int64(1_795_000_000_000_000) + Int64(n / 3) * 1_000_000
                    let time = Timestamp(microseconds: micros).pythonISOFormat
                    lines.append(
                        wireEvent(id: id, session: UUID(), agent: agent, kind: kind, clientHMAC: false).replacingOccurrences(
                            of: "2026-11-24T12:00:00.000120+00:00", with: time))
                    all.append((id, agent, kind, micros))
                }
                #expect(
                    try await post(collector.batchURL, "[" + lines.joined(separator: ",") + "]", token: batch == 0 ? testToken : otherToken).status
                        == 200)
            }
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()

            func walkAll(_ query: String) async throws -> [String] {
                var ids: [String] = [], path: String? = "/timeline?" + query, pages = 0
                while let next = path, pages < 50 {
                    let page = try await ui.get(next.replacingOccurrences(of: "&amp;", with: "&"))
                    #expect(page.status == 200)
                    ids += UIClient.all(#"<tr class="event-row" data-event-id="([0-9a-f-]+)""#, in: page.text)
                    path = UIClient.first(#"<a id="older" href="([^"]+)""#, in: page.text)
                    pages += 1
                }
                return ids
            }
            let expected = all.sorted { ($0.micros, $0.id.lowercasedString) > ($1.micros, $1.id.lowercasedString) }.map { $0.id.lowercasedString }
            // The timeline also lists the collector's own access events (this test's sign-in, its searches).
            func walk(_ query: String) async throws -> [String] {
                let ids = try await walkAll(query)
                let access = Set(
                    try PGConnection(dsn: dsn).exec("SELECT event_id FROM governance_audit_events WHERE workflow = 'governance.system'").rows.map {
                        $0[0]!
                    })
                #expect(!access.isEmpty)
                return ids.filter { !access.contains($0) }
            }
            let everything = try await walk("")
            #expect(everything == expected, "every event exactly once, newest first (\(everything.count) of \(expected.count))")

            #expect(try await walk("agent=agent-3") == expected.filter { id in all.first { $0.id.lowercasedString == id }!.agent == "agent-3" })
            let tools = try await walk("kind=tool.*")
            #expect(Set(tools) == Set(all.filter { $0.kind.hasPrefix("tool.") }.map { $0.id.lowercasedString }))
            #expect(Set(try await walk("decision=deny")) == Set(all.filter { $0.kind == "policy.denied" }.map { $0.id.lowercasedString }))
            #expect(Set(try await walk("decision=none")) == Set(all.filter { $0.kind.hasPrefix("tool.") }.map { $0.id.lowercasedString }))
            #expect(try await walk("workflow=wf-other").count == 215)
            let from = Timestamp(microseconds: 1_795_000_000_000_000 + 100 * 1_000_000)
            let to = Timestamp(microseconds: 1_795_000_000_000_000 + 110 * 1_000_000)
            let window = try await walk(
                "from=\(from.pythonISOFormat.replacingOccurrences(of: "+", with: "%2B"))&to=\(to.pythonISOFormat.replacingOccurrences(of: "+", with: "%2B"))"
            )
            #expect(Set(window) == Set(all.filter { $0.micros >= from.microseconds && $0.micros < to.microseconds }.map { $0.id.lowercasedString }))
            #expect(window.count == 30)
            let bad = try await ui.get("/timeline?decision=maybe&from=yesterday")
            #expect(bad.text.contains("decision must be allow, deny, none or error") && bad.text.contains("from is not a time"))
        }
    }

    @Test("event detail: all fields, metadata redacted unless asked, chain position; verify says intact, then tampered after an edit")
    func detailAndVerify() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let session = UUID(), ids = [UUID(), UUID(), UUID()]
            let secretKey = "sk-ant-api03-" + String(repeating: "q", count: 40)
            for id in ids {
                #expect(
                    try await post(collector.eventsURL, unchainedEvent(id: id, session: session, metadata: #"{"key":"\#(secretKey)","n":2}"#)).status
                        == 201)
            }
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let detail = try await ui.get("/events/\(ids[1].lowercasedString)")
            #expect(detail.status == 200)
            #expect(UIClient.first(#"<dd data-field="agent_id">([^<]*)</dd>"#, in: detail.text) == "agent-1")
            #expect(UIClient.first(#"<dd data-field="position">([^<]*)</dd>"#, in: detail.text) == "2 of 3")
            #expect(UIClient.first(#"<dd data-field="seq">([^<]*)</dd>"#, in: detail.text) == "2")
            #expect(!detail.text.contains(secretKey) && detail.text.contains("REDACTED"), "redacted by default")
            #expect(try await ui.get("/events/\(ids[1].lowercasedString)?view=raw").text.contains(secretKey))
            #expect(try await ui.get("/events/\(UUID().lowercasedString)").status == 404)
            #expect(try await ui.get("/events/not-an-id").status == 400)

            let intact = try await ui.post("/sessions/\(session.lowercasedString)/verify", [("event", ids[1].lowercasedString)], csrfFrom: detail)
            #expect(UIClient.first(#"<p id="verify-result" class="verify-(\w+)">"#, in: intact.text) == "intact", "\(intact.text.suffix(600))")
            try PGConnection(dsn: dsn).exec(
                """
                ALTER TABLE governance_audit_events DISABLE TRIGGER USER;
                UPDATE governance_audit_events SET metadata_json = '{"key":"edited","n":3}' WHERE event_id = '\(ids[1].lowercasedString)';
                ALTER TABLE governance_audit_events ENABLE TRIGGER USER;
                """)
            let tampered = try await ui.post("/sessions/\(session.lowercasedString)/verify", [("event", ids[1].lowercasedString)], csrfFrom: detail)
            #expect(UIClient.first(#"<p id="verify-result" class="verify-(\w+)">"#, in: tampered.text) == "tampered")
            #expect(tampered.text.contains(ids[1].lowercasedString))
        }
    }

    @Test(
        "session page: the events as the parent_event_id tree in commit order, signature status, verify; linked from the timeline and the detail page"
    )
    func sessionPage() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            // root ─┬─ a ── a1
            //       └─ b        plus c, whose parent is in another session (a root here).
            let session = UUID(), (root, a, a1, b, c) = (UUID(), UUID(), UUID(), UUID(), UUID())
            for (id, parent) in [(root, nil), (a, root), (b, root), (a1, a), (c, UUID())] as [(UUID, UUID?)] {
                let parented =
                    parent.map { #""session_id":"\#(session.lowercasedString)","parent_event_id":"\#($0.lowercasedString)""# }
                    ?? #""session_id":"\#(session.lowercasedString)""#
                let event = unchainedEvent(id: id, session: session).replacingOccurrences(
                    of: #""session_id":"\#(session.lowercasedString)""#, with: parented)
                #expect(try await post(collector.eventsURL, event).status == 201)
            }
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let timeline = try await ui.get("/timeline")
            #expect(timeline.text.contains(#"<a class="session-link" href="/sessions/\#(session.lowercasedString)">"#))
            #expect(
                try await ui.get("/events/\(a1.lowercasedString)").text.contains(
                    #"<a id="session-page" href="/sessions/\#(session.lowercasedString)">"#))

            let page = try await ui.get("/sessions/\(session.lowercasedString)")
            #expect(page.status == 200)
            let rows = UIClient.all(#"<tr class="session-event" (data-event-id="[^"]+" data-parent="[^"]*" data-depth="\d+")"#, in: page.text).map {
                row in
                (
                    id: UIClient.first(#"data-event-id="([^"]+)""#, in: row)!, parent: UIClient.first(#"data-parent="([^"]*)""#, in: row)!,
                    depth: Int(UIClient.first(#"data-depth="(\d+)""#, in: row)!)!
                )
            }
            #expect(rows.map(\.id) == [root, a, a1, b, c].map(\.lowercasedString), "depth first, siblings in commit order")
            #expect(rows.map(\.depth) == [0, 1, 2, 1, 0])
            // Each row's parent and depth agree with the table.
            for row in rows {
                #expect(
                    try await scalar(dsn, "SELECT coalesce(parent_event_id::text, '') FROM governance_audit_events WHERE event_id = '\(row.id)'")
                        == row.parent)
                if let parentRow = rows.first(where: { $0.id == row.parent }) {
                    #expect(row.depth == parentRow.depth + 1)
                } else {
                    #expect(row.depth == 0)
                }
            }
            #expect(UIClient.all(#"<td class="signature">([^<]*)</td>"#, in: page.text) == Array(repeating: "unsigned", count: 5))
            #expect(UIClient.all(#"<td class="chain-seq">(\d+)</td>"#, in: page.text).count == 5)
            let verified = try await ui.post("/sessions/\(session.lowercasedString)/verify", [], csrfFrom: page)
            #expect(UIClient.first(#"<p id="verify-result" class="verify-(\w+)">"#, in: verified.text) == "intact", "\(verified.text.suffix(600))")
            #expect(verified.text.contains(#"<table id="session-events">"#), "the answer is the session page again")
            #expect(try await ui.get("/sessions/\(UUID().lowercasedString)").status == 404)
            #expect(try await ui.get("/sessions/nope").status == 400)
        }
    }

    @Test("hostile event content is escaped in every page, raw view included")
    func hostileContentEscaped() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let id = UUID()
            let agent = #"<img src=x onerror=alert(1)>"#
            let metadata = #"{"note":"<script>alert(2)</script>","attr":"\" onmouseover=\"alert(3)","bidi":"a\u202eb"}"#
            let event = wireEvent(id: id, agent: agent.replacingOccurrences(of: "\"", with: "\\\""), kind: "tool.<b>bold</b>", metadata: metadata)
            #expect(try await post(collector.eventsURL, event).status == 201)
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            for path in [
                "/timeline", "/events/\(id.lowercasedString)", "/events/\(id.lowercasedString)?view=raw", "/workflows",
                "/timeline?agent=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
            ] {
                let page = try await ui.get(path)
                #expect(page.status == 200, "\(path)")
                for raw in ["<img", "<script>alert", "<b>", #"" onmouseover"#] {
                    #expect(!page.text.contains(raw), "\(path) contains \(raw)")
                }
                #expect(UIClient.all("(<script)", in: page.text).count == 1, "only the page's own script tag in \(path)")
            }
            let detail = try await ui.get("/events/\(id.lowercasedString)")
            #expect(detail.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(detail.text.contains("tool.&lt;b&gt;bold&lt;/b&gt;"))
        }
    }
}

@Suite("timeline UI in headless Chromium")
struct TimelineBrowserTests {
    /// Where the screenshots go: `GOVERNANCE_UI_SCREENSHOTS` (docs/components/ui.md's come from this test
    /// run with `docs/screenshots`), else a temporary folder.
    static let screenshots =
        ProcessInfo.processInfo.environment["GOVERNANCE_UI_SCREENSHOTS"]
        ?? FileManager.default.temporaryDirectory.appendingPathComponent("gc-ui-shots-\(UUID())").path

    @Test(
        "sign in, watch events arrive live, filter, open a detail and verify, issue and revoke a token (ingest then says 401), hostile content stays text"
    )
    func browserFlow() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dsn = try await newDatabase()
        // A morning of activity to look at: 4 agents, 8 sessions, allow/deny/no-decision kinds.
        let kinds = ["tool.call", "llm.call", "tool.result", "policy.denied", "access.granted", "tool.call"]
        let now = Timestamp.now().microseconds
        var lines: [String] = []
        for session in 0..<8 {
            let sessionID = UUID(), agent = ["planner", "researcher", "coder", "reviewer"][session % 4]
            // A small tree per session: steps 1 and 2 under step 0, 3 under 2, 4 and 5 under 3.
            let ids = (0..<6).map { _ in UUID() }, parents = [nil, 0, 0, 2, 3, 3]
            for step in 0..<6 {
                let time = Timestamp(microseconds: now - 600_000_000 + Int64(session) * 55_000_000 + Int64(step) * 9_000_000)
                let sessionField = #""session_id":"\#(sessionID.lowercasedString)""#
                lines.append(
                    unchainedEvent(id: ids[step], session: sessionID, metadata: #"{"step":\#(step)}"#)
                        .replacingOccurrences(
                            of: sessionField,
                            with: parents[step].map { sessionField + #","parent_event_id":"\#(ids[$0].lowercasedString)""# } ?? sessionField
                        )
                        .replacingOccurrences(of: #""agent_id":"agent-1""#, with: #""agent_id":"\#(agent)""#)
                        .replacingOccurrences(of: "tool.call", with: kinds[(session + step) % kinds.count])
                        .replacingOccurrences(of: "2026-11-24T12:00:00.000120+00:00", with: time.pythonISOFormat))
            }
        }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-ui-browser-\(UUID()).yaml").path
        let report = config + ".report.json", log = config + ".log"
        defer { for f in [config, report, log] { try? FileManager.default.removeItem(atPath: f) } }
        try privateNetworkYAML(dsn: dsn).write(toFile: config, atomically: true, encoding: .utf8)
        let seeding = try await RunningCollector.start(yaml: chainedYAML(dsn: dsn))
        try await seeding.waitUntilReady()
        let seeded = try await post(seeding.batchURL, "[" + lines.joined(separator: ",") + "]")
        #expect(seeded.status == 200, "\(seeded.text.prefix(500))")
        try await seeding.stop()

        // One browser at a time (see BrowserTurn); one that hangs is killed before the next starts.
        let (status, output) = try await BrowserTurn.shared.script(
            [
                "unshare", "-n", "--", root + "/Tests/interop/private_network.sh", BinaryTests.binary, config, "http://127.0.0.1:8888/readyz",
                "--", try sdkPython(), root + "/Tests/interop/ui_browser.py", "--ui", "http://127.0.0.1:8890", "--password", uiPassword,
                "--ingest", "http://127.0.0.1:4320", "--ingest-token", testToken, "--screenshots", Self.screenshots, "--out", report,
            ], log: log, within: 180)
        #expect(status == 0, "\(output.suffix(3000))")
        let facts = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: report))))
        func step(_ name: String) -> JSONValue { facts[name] ?? .null }
        for name in [
            "browser", "login_wrong", "login", "live", "filter", "detail", "tokens", "dashboard", "search", "session", "zoom", "hostile", "csp",
        ] {
            #expect(
                step(name)["error"] == nil,
                "\(name): \(step(name)["error"]?.stringValue ?? "") at \(step(name)["where"].map { $0.serialized() } ?? "")")
        }

        #expect(step("login_wrong")["path"]?.stringValue == "/login")
        #expect(step("login_wrong")["login_error"]?.stringValue?.isEmpty == false)
        #expect(step("login")["path"]?.stringValue == "/timeline")
        let cookie = step("login")["cookies"]?.arrayValue?.first
        #expect(cookie?["httpOnly"] == .bool(true) && cookie?["sameSite"]?.stringValue == "Strict")

        // Live: every posted event appears as a row and a circle without a reload.
        let live = step("live")
        #expect(live["live_status"]?.stringValue == "live" && live["reloaded"] == .bool(false))
        let posted = live["posted"]?.arrayValue ?? []
        #expect(posted.count == 5)
        for event in posted {
            #expect(event["status"] == .number("201"))
            #expect(event["appeared_ms"].map { $0 != .null } == true, "\(event["event_id"]?.stringValue ?? "?") never appeared")
            let expected = event["kind"]?.stringValue == "policy.denied" ? "deny" : event["kind"]?.stringValue == "access.granted" ? "allow" : "none"
            #expect(event["row_decision"]?.stringValue == expected && event["circle_decision"]?.stringValue == expected)
        }
        #expect(live["rows_after"] == live["circles_after"])

        // Filter: exactly agent-b's denials, as the database has them.
        let connection = try PGConnection(dsn: dsn)
        let denials = try connection.exec(
            "SELECT event_id FROM governance_audit_events WHERE agent_id = 'agent-b' AND decision = 'deny' ORDER BY created_at DESC, event_id DESC"
        )
        .rows.compactMap { $0[0] }
        #expect(step("filter")["listed_ids"]?.arrayValue?.compactMap(\.stringValue) == denials)
        #expect(denials.count == 2)

        let detail = step("detail")
        #expect(detail["fields"]?["agent_id"]?.stringValue == "agent-b" && detail["fields"]?["kind"]?.stringValue == "policy.denied")
        #expect(detail["metadata_shows_placeholder"] == .bool(false) && detail["raw_metadata_shows_placeholder"] == .bool(true))
        #expect(detail["verify_result"]?.stringValue?.hasPrefix("intact") == true, "\(detail["verify_result"]?.stringValue ?? "")")

        let tokens = step("tokens")
        let token = tokens["token"]?.stringValue ?? ""
        #expect(token.hasPrefix("wf_") && tokens["token_shown_after_reload"] == .bool(false))
        #expect(tokens["post_new_token_status"] == .number("201"))
        #expect(tokens["status_after_revoke"]?.stringValue == "revoked")
        #expect(tokens["post_revoked_token_status"] == .number("401"))
        #expect(tokens["post_yaml_token_status"] == .number("201"))
        #expect(
            try connection.exec("SELECT encode(token_sha256, 'hex'), revoked_at IS NOT NULL FROM governance_workflow_tokens").rows
                == [[WorkflowTokens.sha256Hex(token), "t"]])

        // The dashboard's tiles are the table's counts of everything committed before its three
        // events, and count those three live, without a reload.
        let dashboard = step("dashboard")
        let firstPosted = try #require(dashboard["posted"]?.arrayValue?.first?["event_id"]?.stringValue)
        let before = try connection.exec(
            """
            SELECT count(*), count(*) FILTER (WHERE decision = 'allow'), count(*) FILTER (WHERE decision = 'deny'), count(*) FILTER (WHERE decision IS NULL)
            FROM governance_audit_events WHERE chain_seq < (SELECT chain_seq FROM governance_audit_events WHERE event_id = $1::uuid)
            """, [firstPosted]
        ).rows[0].map { $0 ?? "" }
        func tiles(_ name: String) -> [String] { ["total", "allow", "deny", "none"].map { dashboard[name]?[$0]?.stringValue ?? "?" } }
        #expect(tiles("before") == before, "the tiles before the live events: \(tiles("before")) vs SQL \(before)")
        #expect(tiles("after") == zip(before, [3, 1, 1, 1]).map { String(Int($0)! + $1) }, "\(tiles("after"))")
        #expect(dashboard["reloaded"] == .bool(false) && dashboard["posted"]?.arrayValue?.allSatisfy { $0["status"] == .number("201") } == true)
        #expect(
            Int(dashboard["agents_after"]?["planner"]?.stringValue ?? "")
                == Int(dashboard["agents_before"]?["planner"]?.stringValue ?? "").map { $0 + 3 })

        // Metadata search typed into the form: exactly the database's rows, and the view's export link downloads them.
        let search = step("search")
        let stepThree = try connection.exec(
            "SELECT event_id FROM governance_audit_events WHERE metadata_json->'step' = '3'::jsonb ORDER BY created_at DESC, event_id DESC"
        )
        .rows.compactMap { $0[0] }
        #expect(stepThree.count == 8 && search["query_params"]?["meta"]?.stringValue == "step=3")
        #expect(search["listed_ids"]?.arrayValue?.compactMap(\.stringValue) == stepThree)
        #expect(search["export_status"] == .number("200") && search["export_disposition"]?.stringValue?.hasPrefix("attachment") == true)
        #expect(search["export_ids"]?.arrayValue?.compactMap(\.stringValue) == stepThree.reversed(), "the export holds the view's rows, oldest first")

        // The session page reached from a timeline row lists that session in commit order.
        let session = step("session")
        let sessionID = try #require(session["session_href"]?.stringValue?.split(separator: "/").last.map(String.init))
        let members = try connection.exec(
            "SELECT event_id, coalesce(parent_event_id::text, '') FROM governance_audit_events WHERE session_id = $1::uuid ORDER BY chain_seq",
            [sessionID]
        ).rows
        #expect(
            session["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == members.compactMap { $0[0] },
            "depth first in commit order is commit order here")
        #expect(session["rows"]?.arrayValue?.compactMap { $0["parent"]?.stringValue } == members.compactMap { $0[1] })
        #expect(
            session["rows"]?.arrayValue?.compactMap { $0["depth"] } == [0, 1, 1, 2, 3, 3].map { JSONValue.number(String($0)) },
            "the tree the load built")
        #expect(session["verify_result"]?.stringValue?.hasPrefix("intact") == true, "\(session["verify_result"]?.stringValue ?? "")")

        // Zoom to the later half of the page: from/to set, and the page is exactly the rows in that window.
        let zoom = step("zoom")
        let (from, to) = (zoom["query_params"]?["from"]?.stringValue ?? "", zoom["query_params"]?["to"]?.stringValue ?? "")
        let window = try connection.exec(
            "SELECT event_id FROM governance_audit_events WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz ORDER BY created_at DESC, event_id DESC",
            [from, to]
        )
        .rows.compactMap { $0[0] }
        #expect(!window.isEmpty && zoom["listed_ids"]?.arrayValue?.compactMap(\.stringValue) == window, "\(from) – \(to)")
        #expect(zoom["ticks"]?.arrayValue?.isEmpty == false && zoom["caption"]?.stringValue?.hasSuffix("(UTC)") == true)

        // Hostile content: shown as the literal text it is; nothing ran, nothing was injected.
        for page in ["detail", "timeline"] {
            let seen = step("hostile")[page] ?? .null
            #expect(seen["agent_text"]?.stringValue ?? seen["agent_id_text"]?.stringValue == "<img src=x onerror=alert(1)>", "\(page)")
            #expect(seen["kind_text"]?.stringValue == "tool.<script>alert(2)</script>", "\(page)")
            #expect(seen["alerts"]?.arrayValue?.isEmpty == true && seen["alerts_after_hover"]?.arrayValue?.isEmpty == true, "\(page)")
            #expect(seen["pwned"] == .null && seen["pwned_after_hover"] == .null, "\(page)")
            #expect(seen["foreign_script_count"] == .number("0") && seen["img_x_count"] == .number("0"), "\(page)")
        }
        #expect(step("hostile")["detail"]?["metadata_has_script_literal"] == .bool(true), "the <script> text is displayed, as text")
        #expect(step("csp")["content_security_policy"]?.stringValue == TimelineServer.contentSecurityPolicy)

        for name in ["timeline", "detail", "workflows", "dashboard", "search", "session"] {
            let png = try Data(contentsOf: URL(fileURLWithPath: Self.screenshots + "/\(name).png"))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(name).png")
        }
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
