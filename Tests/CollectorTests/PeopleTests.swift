import AuditStore
import Collector
import CurlHTTP
import GovernanceTesting
import Foundation
import Testing

/// People, roles and sessions against running collectors and their PostgreSQL: what a role may
/// change is decided on the server at every request, sessions are rows every collector on the
/// database honours, guessing is slowed then refused, and each of these is an `access.*` row
/// that `verify` checks like any other.
@Suite("people, roles, sessions and access events")
struct PeopleTests {
    static let alicePassword = "alice-passphrase-0123"

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
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let admin = UIClient(base: base)
            try await admin.signIn()
            #expect(try await admin.get("/timeline").text.contains(#"<span id="nav-person">admin (admin)</span>"#))

            let refused = try await Self.save(admin, name: "alice", role: "viewer", password: Self.alicePassword)
            #expect(refused.status == 400 && refused.text.contains("a viewer needs at least one workflow"))
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-a", password: "short").status == 400)
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-a", password: Self.alicePassword).status == 303)
            // Only bcrypt's hash is stored.
            let hash = try #require(try scalar(dsn, "SELECT password_hash FROM governance_users WHERE name = 'alice'"))
            #expect(hash.hasPrefix("$2b$12$") && !hash.contains(Self.alicePassword))

            let alice = UIClient(base: base)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            let page = try await alice.get("/workflows")
            #expect(page.status == 200 && page.text.contains("alice (viewer)") && !page.text.contains(#"id="nav-people""#))
            #expect(try await alice.get("/people").status == 403)
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-a")], csrfFrom: page).status == 403)
            #expect(try await alice.post("/people", [("name", "mallory"), ("role", "admin")], csrfFrom: page).status == 403)
            #expect(try scalar(dsn, "SELECT count(*) FROM governance_workflow_tokens") == "0")
            #expect(try scalar(dsn, "SELECT count(*) FROM governance_users") == "1")

            // Made an owner of wf-a, at her next request: wf-a's tokens, not wf-b's.
            #expect(try await Self.save(admin, name: "alice", role: "owner", workflows: "wf-a").status == 303)
            let owner = try await alice.get("/workflows")
            #expect(owner.text.contains("alice (owner)"))
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-a")], csrfFrom: owner).status == 200)
            #expect(try await alice.post("/workflows/tokens", [("workflow", "wf-b")], csrfFrom: owner).status == 403)
            #expect(try scalar(dsn, "SELECT string_agg(workflow, ',') FROM governance_workflow_tokens") == "wf-a")
            #expect(try scalar(dsn, "SELECT password_hash FROM governance_users WHERE name = 'alice'") == hash, "an empty password keeps hers")

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
                #expect(try scalar(dsn, "SELECT count(*) FROM governance_ui_sessions WHERE person = 'alice'") == "1")
                // Only the cookie's SHA-256 is stored.
                let cookie = try #require(alice.cookie)
                #expect(
                    try scalar(dsn, "SELECT count(*) FROM governance_ui_sessions WHERE id_sha256 = sha256(convert_to('\(cookie)', 'UTF8'))") == "1")
                #expect(try scalar(dsn, "SELECT count(*) FROM governance_ui_sessions t WHERE t::text LIKE '%\(cookie)%'") == "0")

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
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let admin = UIClient(base: base)
            try await admin.signIn()
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
            #expect(try scalar(dsn, "SELECT failures FROM governance_signin_failures WHERE key = 'account:alice'") == "10")
            #expect(
                try scalar(
                    dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.signin_failed' AND metadata_json->>'account' = 'alice'")
                    == "10")
        }
    }

    @Test(
        "access events: sign-in, failure, sign-out, person and session changes are chained rows of the system workflow; verify passes, and a deleted one is caught"
    )
    func accessEvents() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let admin = UIClient(base: base)
            try await admin.signIn()
            #expect(try await Self.save(admin, name: "alice", role: "viewer", workflows: "wf-a", password: Self.alicePassword).status == 303)
            let alice = UIClient(base: base)
            let login = try await alice.get("/login")
            #expect(try await alice.post("/login", [("name", "alice"), ("password", "wrong")], csrfFrom: login).status == 401)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            #expect(try await alice.post("/logout", [], csrfFrom: try await alice.get("/timeline")).status == 303)
            try await alice.signIn(name: "alice", password: Self.alicePassword)
            let listing = try await admin.get("/people")
            let fingerprint = try #require(
                UIClient.first(#"data-fingerprint="([0-9a-f]{16})"><td><code>[0-9a-f]{16}</code></td><td class="person">alice"#, in: listing.text))
            #expect(try await admin.post("/people/sessions/\(fingerprint)/end", [], csrfFrom: listing).status == 303)

            let rows = try PGConnection(dsn: dsn).exec(
                """
                SELECT kind, agent_id, workflow, metadata_json->>'session', chain_seq IS NOT NULL AND hmac_value IS NOT NULL
                FROM governance_audit_events ORDER BY seq
                """
            ).rows
            #expect(
                rows.map { "\($0[0]!) \($0[1]!)" } == [
                    "access.signin admin", "access.user_saved admin", "access.signin_failed anonymous", "access.signin alice", "access.signout alice",
                    "access.signin alice", "access.session_ended admin",
                ])
            #expect(rows.allSatisfy { $0[2] == "governance.system" && $0[4] == "t" })
            // Alice's sign-in and sign-out name one session; the admin ended her second one by its fingerprint.
            #expect(rows[3][3] == rows[4][3] && rows[5][3] == fingerprint)

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
}
