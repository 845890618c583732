import AuditStore
import Collector
import CurlHTTP
import GovernanceTesting
import Pipeline
import Foundation
import Testing
import Timeline

/// People, roles and sessions against running collectors and their PostgreSQL: what a role may
/// change is decided on the server at every request, sessions are rows every collector on the
/// database honours, guessing is slowed then refused, and each of these is an `access.*` row
/// that `verify` checks like any other.
@Suite("people, roles, sessions and access events")
struct PeopleTests {
    static let alicePassword = "alice-passphrase-0123"

    /// A collector with the UI on `dsn`, its UI's address, and the bootstrap admin signed in there.
    static func withAdmin(
        dsn: String, ui: String = "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"",
        _ body: (RunningCollector, String, UIClient) async throws -> Void
    ) async throws {
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn, ui: ui)) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let admin = UIClient(base: base)
            try await admin.signIn()
            try await body(collector, base, admin)
        }
    }

    /// Adds or changes a person from the bootstrap admin's People page.
    static func save(_ admin: UIClient, name: String, role: String, workflows: String = "", password: String = "") async throws -> HTTPResult {
        let page = try await admin.get("/people")
        return try await admin.post(
            "/people", [("name", name), ("role", role), ("workflows", workflows), ("password", password)], csrfFrom: page)
    }

    @Test(
        "roles: a viewer reads and changes nothing; an owner manages only their workflow's tokens; a role change or a removal applies at the next request"
    )
    func roles() async throws {
        let dsn = try await newDatabase()
        try await Self.withAdmin(dsn: dsn) { collector, base, admin in
            #expect(try await admin.get("/timeline").text.contains(#"<span id="nav-person">admin (admin)</span>"#))

            let refused = try await Self.save(admin, name: "alice", role: "viewer", password: Self.alicePassword)
            #expect(refused.status == 400 && refused.text.contains("a viewer needs at least one workflow"))
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-a", password: "short").status == 400)
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-a", password: Self.alicePassword).status == 303)
            // Only bcrypt's hash is stored.
            let hash = try #require(try await scalar(dsn, "SELECT password_hash FROM governance_users WHERE name = 'alice'"))
            #expect(hash.hasPrefix("$2b$12$") && !hash.contains(Self.alicePassword))

            let alice = UIClient(base: base)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            let page = try await alice.get("/workflows")
            #expect(page.status == 200 && page.text.contains("alice (viewer)") && !page.text.contains(#"id="nav-people""#))
            #expect(try await alice.get("/people").status == 403)
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-a")], csrfFrom: page).status == 403)
            #expect(try await alice.post("/people", [("name", "mallory"), ("role", "admin")], csrfFrom: page).status == 403)
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_workflow_tokens") == "0")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_users") == "1")

            // Made an owner of wf-a, at her next request: wf-a's tokens, not wf-b's.
            #expect(try await Self.save(admin, name: "alice", role: "owner", workflows: "wf-a").status == 303)
            let owner = try await alice.get("/workflows")
            #expect(owner.text.contains("alice (owner)"))
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-a")], csrfFrom: owner).status == 200)
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-b")], csrfFrom: owner).status == 403)
            #expect(try await scalar(dsn, "SELECT string_agg(workflow, ',') FROM governance_workflow_tokens") == "wf-a")
            #expect(try await scalar(dsn, "SELECT password_hash FROM governance_users WHERE name = 'alice'") == hash, "an empty password keeps hers")

            // Removed, her session signs nobody in.
            let people = try await admin.get("/people")
            #expect(try await admin.post("/people/alice/remove", [], csrfFrom: people).status == 303)
            #expect(try await alice.get("/workflows").status == 303)
        }
    }

    @Test("sessions live in PostgreSQL: one sign-in serves a second collector; sign-out there, an admin's end, or idleness ends it everywhere")
    func sharedSessions() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { first in
            try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { second in
                try await first.waitUntilReady()
                try await second.waitUntilReady()
                let (one, two) = (try await first.timelineURL(), try await second.timelineURL())
                let admin = UIClient(base: one)
                try await admin.signIn()
                #expect(try await Self.save(admin, name: "alice", role: "auditor", password: Self.alicePassword).status == 303)

                let alice = UIClient(base: one)
                try await alice.signIn(name: "alice", password: Self.alicePassword)
                let elsewhere = UIClient(base: two)
                elsewhere.cookie = alice.cookie
                let page = try await elsewhere.get("/timeline")
                #expect(page.status == 200 && page.text.contains("alice (auditor)"))
                #expect(try await scalar(dsn, "SELECT count(*) FROM governance_ui_sessions WHERE person = 'alice'") == "1")
                // Only the cookie's SHA-256 is stored.
                let cookie = try #require(alice.cookie)
                #expect(
                    try await scalar(dsn, "SELECT count(*) FROM governance_ui_sessions WHERE id_sha256 = sha256(convert_to('\(cookie)', 'UTF8'))")
                        == "1")
                #expect(try await scalar(dsn, "SELECT count(*) FROM governance_ui_sessions t WHERE t::text LIKE '%\(cookie)%'") == "0")

                // Signed out on the second collector: the first refuses the copied cookie at once.
                let copy = alice.cookie
                #expect(try await elsewhere.post("/logout", [], csrfFrom: page).status == 303)
                alice.cookie = copy
                #expect(try await alice.get("/timeline").status == 303)

                // An admin ends a session from the People page (on either collector).
                try await alice.signIn(name: "alice", password: Self.alicePassword)
                let listing = try await admin.get("/people")
                let fingerprint = try #require(
                    UIClient.first(
                        #"<tr class="ui-session" data-fingerprint="([0-9a-f]{16})"><td><code>[0-9a-f]{16}</code></td><td class="person">alice"#,
                        in: listing.text))
                let remote = UIClient(base: two)
                remote.cookie = admin.cookie
                #expect(try await remote.post("/people/sessions/\(fingerprint)/end", [], csrfFrom: listing).status == 303)
                #expect(try await alice.get("/timeline").status == 303)

                // A session unused for longer than session_idle has ended (the database's clock, moved back here).
                try await alice.signIn(name: "alice", password: Self.alicePassword)
                #expect(try await alice.get("/timeline").status == 200)
                try PGConnection(dsn: dsn).exec("UPDATE governance_ui_sessions SET last_seen = now() - interval '2 hours' WHERE person = 'alice'")
                #expect(try await alice.get("/timeline").status == 303)
            }
        }
    }

    @Test(
        "guessing: 50 wrong passwords are answered, slowed, then refused with 429 (the right one too, as documented); other names from the address still sign in"
    )
    func bruteForce() async throws {
        let dsn = try await newDatabase()
        try await Self.withAdmin(dsn: dsn) { collector, base, admin in
            #expect(try await Self.save(admin, name: "alice", role: "auditor", password: Self.alicePassword).status == 303)

            let guesser = UIClient(base: base)
            var statuses: [Int] = [], slowed: [Bool] = []
            for attempt in 0..<50 {
                let login = try await guesser.get("/login")
                let answer = try await guesser.post("/login", [("name", "alice"), ("password", "guess-\(attempt)")], csrfFrom: login)
                statuses.append(answer.status)
                slowed.append(answer.text.contains("Further attempts are slowed"))
                if answer.status == 429 { #expect(Int(answer.headers["retry-after"] ?? "") ?? 0 > 0) }
            }
            #expect(Array(statuses.prefix(10)) == Array(repeating: 401, count: 10) && statuses.dropFirst(10).allSatisfy { $0 == 429 }, "\(statuses)")
            #expect(Array(slowed.prefix(10)) == [false, false, false, false, true, true, true, true, true, true])
            // An unknown name is answered exactly as a known one.
            let login = try await guesser.get("/login")
            let unknown = try await guesser.post("/login", [("name", "nobody"), ("password", "guess")], csrfFrom: login)
            #expect(unknown.status == 401 && unknown.text.contains("That name or password is not right."))

            let right = try await guesser.post(
                "/login", [("name", "alice"), ("password", Self.alicePassword)], csrfFrom: try await guesser.get("/login"))
            #expect(right.status == 429 && right.text.contains("Too many failed sign-ins"))
            let other = UIClient(base: base)
            try await other.signIn()
            // Ten failures were counted, and one event each; the refused forty are only logged.
            #expect(try await scalar(dsn, "SELECT failures FROM governance_signin_failures WHERE key = 'account:alice'") == "10")
            #expect(
                try await scalar(
                    dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.signin_failed' AND metadata_json->>'account' = 'alice'")
                    == "10")
        }
    }

    @Test(
        "access events: sign-in, failure, sign-out, person and session changes are chained rows of the system workflow; verify passes, and a deleted one is caught"
    )
    func accessEvents() async throws {
        let dsn = try await newDatabase()
        try await Self.withAdmin(dsn: dsn) { collector, base, admin in
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-test", password: Self.alicePassword).status == 303)
            let event = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: event, agent: "agent-of-a")).status == 201)
            let alice = UIClient(base: base)
            let login = try await alice.get("/login")
            #expect(try await alice.post("/login", [("name", "alice"), ("password", "wrong")], csrfFrom: login).status == 401)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            #expect(try await alice.post("/logout", [], csrfFrom: try await alice.get("/timeline")).status == 303)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            // What she reads is on the record too: a search, an event, a session, an export.
            #expect(try await alice.get("/timeline?agent=agent-of-a").status == 200)
            #expect(try await alice.get("/events/\(event.lowercasedString)").status == 200)
            #expect(try await alice.get("/export?agent=agent-of-a").text.contains(event.lowercasedString))
            let listing = try await admin.get("/people")
            let fingerprint = try #require(
                UIClient.first(#"data-fingerprint="([0-9a-f]{16})"><td><code>[0-9a-f]{16}</code></td><td class="person">alice"#, in: listing.text))
            #expect(try await admin.post("/people/sessions/\(fingerprint)/end", [], csrfFrom: listing).status == 303)

            let rows = try PGConnection(dsn: dsn).exec(
                """
                SELECT kind, agent_id, workflow, metadata_json->>'session', chain_seq IS NOT NULL AND hmac_value IS NOT NULL,
                       coalesce(metadata_json->>'filter', metadata_json->>'event_id', '')
                FROM governance_audit_events WHERE kind LIKE 'access.%' ORDER BY seq
                """
            ).rows
            #expect(
                rows.map { "\($0[0]!) \($0[1]!)" } == [
                    "access.signin admin", "access.user_saved admin", "access.signin_failed anonymous", "access.signin alice", "access.signout alice",
                    "access.signin alice", "access.searched alice", "access.event_viewed alice", "access.exported alice",
                    "access.session_ended admin",
                ])
            #expect(rows[6...8].map { $0[5] } == ["agent=agent-of-a", event.lowercasedString, "agent=agent-of-a"])
            #expect(rows.allSatisfy { $0[2] == "governance.system" && $0[4] == "t" })
            // Alice's sign-in and sign-out name one session; the admin ended her second one by its fingerprint.
            #expect(rows[3][3] == rows[4][3] && rows[5...8].allSatisfy { $0[3] == fingerprint })

            func verify() async throws -> (Int32, String) { try await verifyCommand(dsn: dsn) }
            let (clean, report) = try await verify()
            #expect(clean == 0, "\(report)")
            // Removing the trace of the failed sign-in is caught as any other row's removal.
            let c = try PGConnection(dsn: dsn)
            try c.exec("ALTER TABLE governance_audit_events DISABLE TRIGGER USER")
            try c.exec("DELETE FROM governance_audit_events WHERE kind = 'access.signin_failed'")
            let (tampered, after) = try await verify()
            #expect(tampered == 1, "\(after)")
        }
    }

    @Test(
        "scope: a viewer of one workflow reaches no row of another by any route the router has, with the other's ids, search, export and the live stream"
    )
    func workflowScope() async throws {
        let dsn = try await newDatabase()
        try await Self.withAdmin(dsn: dsn) { collector, base, admin in
            // wf-other's rows (B): a session of three events, a gate, a token issued in the UI.
            let sessionB = UUID().uuidString.lowercased()
            let eventsB = (0..<3).map { _ in UUID().uuidString.lowercased() }
            let batch = eventsB.map {
                wireEvent(id: UUID(uuidString: $0)!, session: UUID(uuidString: sessionB)!, agent: "agent-of-b", metadata: #"{"note":"secret-b"}"#)
            }
            #expect(try await post(collector.batchURL, "[" + batch.joined(separator: ",") + "]", token: otherToken).status == 200)
            let gateB = UUID().uuidString.lowercased()
            let gate = JSONValue.object([
                .init("request_id", .string(gateB)), .init("agent_id", .string("agent-of-b")), .init("kind", .string("deploy")),
                .init("action_hash", .string(String(repeating: "ab", count: 32))), .init("expires_at", .string("2099-01-01T00:00:00Z")),
                .init("sdk_version", .string("0.7.3")),
            ])
            #expect(try await post("\(collector.baseURL)/api/v1/bridge/gates/\(gateB)", gate.serialized(), token: otherToken).status == 201)
            // wf-test's (A), which the viewer reads.
            let eventA = UUID().uuidString.lowercased()
            #expect(try await post(collector.eventsURL, wireEvent(id: UUID(uuidString: eventA)!, agent: "agent-of-a")).status == 201)

            let issued = try await admin.post("/workflows/tokens", [("workflow", "wf-other")], csrfFrom: try await admin.get("/workflows"))
            let tokenB = try #require(UIClient.first(#"tr class="token" data-fingerprint="([0-9a-f]{12})""#, in: issued.text))
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-test", password: Self.alicePassword).status == 303)
            let alice = UIClient(base: base)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            let adminKey = try #require(
                UIClient.first(
                    #"tr class="api-key" data-fingerprint="([0-9a-f]{12})""#,
                    in: try await admin.post(
                        "/keys", [("name", "admin's"), ("scopes", "read"), ("days", "1")], csrfFrom: try await admin.get("/keys")
                    ).text))
            let adminSession = try #require(
                UIClient.first(
                    #"data-fingerprint="([0-9a-f]{16})"><td><code>[0-9a-f]{16}</code></td><td class="person">admin"#,
                    in: try await admin.get("/people").text))

            // She reads A: the test would pass vacuously if she read nothing.
            #expect(try await alice.get("/events/\(eventA)").text.contains("agent-of-a"))
            #expect(try await alice.get("/timeline").text.contains("agent-of-a"))
            #expect(try await alice.get("/").status == 200)
            #expect(try await alice.get("/api/v1/events").text.contains("agent-of-a"))

            // Every route, tried with B's names and ids. A route missing here fails the test.
            let tries: [String: [(method: String, path: String, fields: [(String, String)])]] = [
                "GET /": [("GET", "/", []), ("GET", "/?workflow=wf-other&window=week", [])],
                "GET /timeline": [
                    ("GET", "/timeline", []), ("GET", "/timeline?workflow=wf-other", []), ("GET", "/timeline?q=secret-b", []),
                    ("GET", "/timeline?session=\(sessionB)", []), ("GET", "/timeline?agent=agent-of-b", []),
                ],
                "GET /export": [
                    ("GET", "/export", []), ("GET", "/export?workflow=wf-other", []), ("GET", "/export?format=csv&q=secret-b", []),
                ],
                "GET /events/{id}": eventsB.map { ("GET", "/events/\($0)", []) } + [("GET", "/events/\(eventsB[0])?view=raw", [])],
                "GET /sessions/{id}": [("GET", "/sessions/\(sessionB)", [])],
                "POST /sessions/{id}/verify": [("POST", "/sessions/\(sessionB)/verify", [("event", eventsB[0])])],
                "GET /approvals": [("GET", "/approvals", []), ("GET", "/approvals?workflow=wf-other", [])],
                "POST /approvals/{workflow}/{id}": [("POST", "/approvals/wf-other/\(gateB)", [("decision", "granted")])],
                "GET /workflows": [("GET", "/workflows", [])],
                "POST /workflows/tokens": [("POST", "/workflows/tokens", [("workflow", "wf-other")])],
                "POST /tokens/{fingerprint}/revoke": [("POST", "/tokens/\(tokenB)/revoke", [])],
                "POST /agent-keys": [("POST", "/agent-keys", [("agent", "agent-of-b"), ("pem", "x")])],
                "POST /agent-keys/{fingerprint}/revoke": [("POST", "/agent-keys/\(String(repeating: "a", count: 32))/revoke", [("reason", "r")])],
                "GET /people": [("GET", "/people", [])],
                "POST /people": [("POST", "/people", [("name", "alice"), ("role", "admin")])],
                "POST /people/{name}/remove": [("POST", "/people/admin/remove", [])],
                "POST /people/sessions/{fingerprint}/end": [("POST", "/people/sessions/\(adminSession)/end", [])],
                "GET /api/v1/events": [
                    ("GET", "/api/v1/events", []), ("GET", "/api/v1/events?workflow=wf-other", []), ("GET", "/api/v1/events?q=secret-b", []),
                    ("GET", "/api/v1/events?session=\(sessionB)", []), ("GET", "/api/v1/events?agent=agent-of-b&limit=1000", []),
                ],
                "GET /api/v1/events/{event_id}": eventsB.map { ("GET", "/api/v1/events/\($0)", []) },
                "GET /api/v1/sessions/{session_id}": [("GET", "/api/v1/sessions/\(sessionB)", [])],
                "GET /api/v1/events/{event_id}/proof": eventsB.map { ("GET", "/api/v1/events/\($0)/proof", []) },
                "GET /api/v1/sessions/{session_id}/verification": [("GET", "/api/v1/sessions/\(sessionB)/verification", [])],
                "GET /api/v1/checkpoints/latest": [("GET", "/api/v1/checkpoints/latest", [])],
                "GET /api/v1/checkpoints/{tree_size}": [("GET", "/api/v1/checkpoints/1", [])],
                "GET /api/v1/proofs/consistency": [("GET", "/api/v1/proofs/consistency?old=1&new=1", [])],
                "GET /api/v1/workflows": [("GET", "/api/v1/workflows", [])],
                "GET /api/v1/openapi.yaml": [("GET", "/api/v1/openapi.yaml", [])],
                "GET /keys": [("GET", "/keys", [])],
                "POST /keys/{fingerprint}/revoke": [("POST", "/keys/\(adminKey)/revoke", [])],
                // Creates a key of her own, which reaches only what she reaches (apiKeys).
                // Reads no rows: the stream is read below; signing in and out, and the assets.
                "GET /stream": [], "POST /keys": [], "GET /login": [("GET", "/login", [])], "POST /login": [], "POST /logout": [],
                "GET /static/app.css": [("GET", "/static/app.css", [])], "GET /static/app.js": [("GET", "/static/app.js", [])],
            ]
            let routes = try #require(collector.collector.timeline).routes
            #expect(Set(routes) == Set(tries.keys), "routes without a scope check here: \(Set(routes).subtracting(tries.keys).sorted())")
            let marks = ["agent-of-b", "secret-b", sessionB, gateB, tokenB] + eventsB
            for (route, attempts) in tries {
                for attempt in attempts {
                    let page = try await alice.get(attempt.method == "GET" ? attempt.path : "/timeline")
                    let answer = attempt.method == "GET" ? page : try await alice.post(attempt.path, attempt.fields, csrfFrom: page)
                    let asked = attempt.path + attempt.fields.map { $0.1 }.joined()
                    let leaked = marks.filter { !asked.contains($0) && answer.text.contains($0) }
                    #expect(leaked.isEmpty, "\(route) \(attempt.path) showed \(leaked)")
                    if attempt.method == "POST" { #expect([403, 404].contains(answer.status), "\(route) \(attempt.path): \(answer.status)") }
                }
            }
            for path in ["/events/\(eventsB[0])", "/sessions/\(sessionB)", "/?workflow=wf-other"] {
                #expect(try await alice.get(path).status == 404, "\(path)")
            }
            // Nothing of B changed.
            #expect(try await scalar(dsn, "SELECT status FROM governance_gates WHERE request_id = '\(gateB)'") == "pending")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_workflow_tokens WHERE revoked_at IS NULL") == "1")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_users") == "1")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_api_keys WHERE revoked_at IS NULL") == "1")

            // The live stream: B's event committed first never arrives; A's, committed after it, does.
            #expect(
                try await eventually {
                    !(try await alice.get("/timeline").text.contains(#"data-stream="/stream?after=0"#))
                })
            let stream = try #require(
                UIClient.first(#"data-stream="([^"]+)""#, in: try await alice.get("/timeline").text)?.replacingOccurrences(of: "&amp;", with: "&"))
            let connection = try RawConnection(port: try #require(base.split(separator: ":").last.flatMap { Int($0) }))
            connection.send("GET \(stream) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gc_session=\(alice.cookie ?? "")\r\n\r\n")
            let lateB = UUID(), lateA = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: lateB, agent: "agent-of-b"), token: otherToken).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(id: lateA, agent: "agent-of-a")).status == 201)
            let received = await connection.readUntil(lateA.uuidString.lowercased())
            #expect(received.contains(lateA.uuidString.lowercased()) && !received.contains("agent-of-b"), "\(received.suffix(800))")
        }
    }

    @Test(
        "API keys: shown once, stored hashed; a key reads only within its person's workflows and acts only within its scopes; a role change, a revocation or its expiry apply at the next request; its uses are access events"
    )
    func apiKeys() async throws {
        let dsn = try await newDatabase()
        try await Self.withAdmin(dsn: dsn) { collector, base, admin in
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-of-a")).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-of-b"), token: otherToken).status == 201)
            #expect(try await Self.save(admin, name: "alice", role: "owner", workflows: "wf-test", password: Self.alicePassword).status == 303)
            let alice = UIClient(base: base)
            try await alice.signIn(name: "alice", password: Self.alicePassword)

            func create(_ scopes: String, days: String = "30") async throws -> HTTPResult {
                try await alice.post("/keys", [("name", "nightly"), ("scopes", scopes), ("days", days)], csrfFrom: try await alice.get("/keys"))
            }
            #expect(try await create("read, everything").status == 400)
            #expect(try await create("read", days: "0").status == 400)
            let reader = try #require(UIClient.first(#"<code id="new-key">(gck_[A-Za-z0-9_-]{43})</code>"#, in: try await create("read").text))
            let manager = try #require(
                UIClient.first(#"<code id="new-key">(gck_[A-Za-z0-9_-]{43})</code>"#, in: try await create("read,tokens").text))
            #expect(!(try await alice.get("/keys").text.contains(reader)), "shown once")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_api_keys t WHERE t::text LIKE '%\(reader.dropFirst(4))%'") == "0")

            func call(_ method: String, _ path: String, _ key: String, body: String? = nil) async throws -> HTTPResult {
                try await TestHTTP.request(
                    method, base + path, headers: ["Authorization: Bearer \(key)", "Content-Type: application/x-www-form-urlencoded"],
                    body: body.map { Array($0.utf8) })
            }
            let page = try await call("GET", "/timeline", reader)
            #expect(page.status == 200 && page.text.contains("agent-of-a") && !page.text.contains("agent-of-b"))
            #expect(page.headers["set-cookie"] == nil, "a key gets no cookie")
            #expect(try await call("GET", "/timeline?agent=agent-of-a", reader).text.contains("agent-of-a"))
            #expect(try await call("GET", "/export", reader).status == 403)
            #expect(try await call("POST", "/workflows/tokens", reader, body: "workflow=wf-test").status == 403)
            #expect(try await call("GET", "/people", reader).status == 403)
            #expect(try await call("POST", "/keys", reader, body: "name=x&scopes=read&days=1").status == 403)
            #expect(try await call("POST", "/workflows/tokens", manager, body: "workflow=wf-test").status == 200)
            #expect(try await call("POST", "/workflows/tokens", manager, body: "workflow=wf-other").status == 403)
            #expect(try await call("GET", "/timeline", "gck_" + String(repeating: "A", count: 43)).status == 401)

            // Made a viewer, her key manages nothing at its next request.
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-test").status == 303)
            #expect(try await call("POST", "/workflows/tokens", manager, body: "workflow=wf-test").status == 403)
            // Revoked from the page, or past its expiry: refused.
            let fingerprint = try #require(
                UIClient.first(#"tr class="api-key" data-fingerprint="([0-9a-f]{12})""#, in: try await alice.get("/keys").text))
            let keys = try await alice.get("/keys")
            #expect(try await alice.post("/keys/\(fingerprint)/revoke", [], csrfFrom: keys).status == 303)
            var live: [String] = []
            for key in [reader, manager]
            where try await scalar(
                dsn, "SELECT count(*) FROM governance_api_keys WHERE revoked_at IS NULL AND key_sha256 = sha256(convert_to('\(key)', 'UTF8'))")
                == "1"
            {
                live.append(key)
            }
            #expect(live.count == 1)
            for key in [reader, manager] where !live.contains(key) { #expect(try await call("GET", "/timeline", key).status == 401) }
            try PGConnection(dsn: dsn).exec("UPDATE governance_api_keys SET expires_at = now() - interval '1 second'")
            #expect(try await call("GET", "/timeline", live[0]).status == 401)

            let uses = try PGConnection(dsn: dsn).exec(
                "SELECT kind, agent_id, metadata_json->>'method' FROM governance_audit_events WHERE metadata_json ? 'key' ORDER BY seq"
            ).rows.map { $0.map { $0 ?? "" }.joined(separator: " ") }
            #expect(uses.contains("access.key_created alice ") && uses.contains("access.key_revoked alice "))
            let readerPrint = try await scalar(
                dsn, "SELECT fingerprint FROM governance_api_keys WHERE key_sha256 = sha256(convert_to('\(reader)', 'UTF8'))")
            let searched = try PGConnection(dsn: dsn).exec(
                "SELECT agent_id, metadata_json->>'method', metadata_json->>'key' FROM governance_audit_events WHERE kind = 'access.searched'"
            ).rows
            #expect(searched == [["alice", "api_key", readerPrint]], "the key's search is on the record, naming the key")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.key_created'") == "2")
        }
    }

    @Test(
        "e-mail links through a real SMTP server (aiosmtpd): the mail arrives, its link signs in once in the browser that asked, never again, never in another browser, never once expired; unknown addresses get the same answer and no mail"
    )
    func emailLinks() async throws {
        let dsn = try await newDatabase()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("gc-mail-\(UUID())").path
        try FileManager.default.createDirectory(atPath: mailbox, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        let log = mailbox + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let sink = try ChildProcess.spawn([try sdkPython(), root + "/Tests/interop/smtp_sink.py", mailbox], outputPath: log)
        defer { _ = sink.stop() }
        #expect(try await eventually { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").hasPrefix("port ") })
        let port = try #require(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").first.map { $0.dropFirst("port ".count) })
        func mails() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: mailbox)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
                .compactMap { try? String(contentsOfFile: mailbox + "/" + $0, encoding: .utf8) }
        }
        let ui = """
              endpoint: 127.0.0.1:0
              admin_password: "\(uiPassword)"
              email_sign_in:
                smtp_url: smtp://127.0.0.1:\(port)
                from: governance@example.com
                public_url: https://governance.example.com/
            """
        try await Self.withAdmin(dsn: dsn, ui: ui) { _, base, admin in
            #expect(try await Self.save(admin, name: "alice@example.com", role: "auditor").status == 303)

            // Asked for in one browser…
            let browser = UIClient(base: base)
            func ask(_ client: UIClient, _ address: String) async throws -> HTTPResult {
                try await client.post("/login/email", [("email", address)], csrfFrom: try await client.get("/login"))
            }
            let asked = try await ask(browser, "alice@example.com")
            #expect(asked.status == 200 && asked.text.contains("a sign-in link is on its way"))
            #expect(try await eventually { mails().count == 1 })
            let mail = try #require(mails().first)
            #expect(mail.hasPrefix("from governance@example.com\nto alice@example.com\n") && mail.contains("Subject: Your sign-in link"))
            let token = try #require(UIClient.first(#"https://governance\.example\.com/login/link\?token=([A-Za-z0-9_-]{43})"#, in: mail))
            #expect(
                try await scalar(dsn, "SELECT count(*) FROM governance_signin_links t WHERE t::text LIKE '%\(token)%'") == "0",
                "only its digest is kept")

            // …opened in another browser: refused, and the link stays usable by the first.
            let other = UIClient(base: base)
            let page = try await other.get("/login/link?token=\(token)")
            #expect(page.status == 200 && page.text.contains(#"id="use-link""#))
            #expect(try await other.post("/login/link", [("token", token)], csrfFrom: nil).status == 401)
            // The link's page sets no cookie: the browser that asked keeps its own.
            let opened = try await browser.get("/login/link?token=\(token)")
            #expect(opened.headers["set-cookie"] == nil)
            let used = try await browser.post("/login/link", [("token", token)], csrfFrom: nil)
            #expect(used.status == 303 && used.headers["location"] == "/timeline")
            #expect(try await browser.get("/timeline").text.contains("alice@example.com (auditor)"))
            // Never again, even in the browser that asked.
            #expect(try await browser.post("/logout", [], csrfFrom: try await browser.get("/timeline")).status == 303)
            #expect(try await browser.post("/login/link", [("token", token)], csrfFrom: nil).status == 401)

            // An expired link is refused.
            #expect(try await ask(browser, "alice@example.com").status == 200)
            #expect(try await eventually { mails().count == 2 })
            let second = try #require(UIClient.first(#"token=([A-Za-z0-9_-]{43})"#, in: mails()[1]))
            try PGConnection(dsn: dsn).exec("UPDATE governance_signin_links SET expires_at = now() - interval '1 second'")
            #expect(try await browser.post("/login/link", [("token", second)], csrfFrom: nil).status == 401)

            // An unknown address: the same answer, no mail. A fourth request in the window: no mail either.
            let unknown = try await ask(browser, "mallory@example.com")
            #expect(unknown.status == 200 && unknown.text.contains("a sign-in link is on its way"))
            #expect(try await ask(browser, "alice@example.com").status == 200)
            #expect(try await eventually { mails().count == 3 })
            #expect(try await ask(browser, "alice@example.com").status == 200)
            let requests = try PGConnection(dsn: dsn).exec(
                "SELECT metadata_json->>'account', metadata_json->>'sent' FROM governance_audit_events WHERE kind = 'access.signin_link_requested' ORDER BY seq"
            ).rows
            #expect(
                requests == [
                    ["alice@example.com", "true"], ["alice@example.com", "true"], ["mallory@example.com", "false"], ["alice@example.com", "true"],
                    ["alice@example.com", "false"],
                ])
            #expect(mails().count == 3)
            #expect(
                try await scalar(
                    dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.signin' AND metadata_json->>'method' = 'email'")
                    == "1")
        }
    }
}
