import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// Sign-in through a real OpenID Connect provider (django-oidc-provider from PyPI, over TLS with
/// the test CA) in headless Chromium and with `requests` (Tests/interop/oidc_signin.py): roles
/// and workflow grants come from the provider's groups, and no callback or token that should
/// not sign anyone in does.
@Suite("OpenID Connect sign-in")
struct OpenIDTests {
    static let clientSecret = "provider-client-secret-0123456789"
    static let users = [
        ("viewer", "alice", "alice-provider-pass-1", "alice@example.com", ["team-a", "unrelated"]),
        ("admin", "carol", "carol-provider-pass-1", "carol@example.com", ["governance-admins"]),
        ("nobody", "bob", "bob-provider-pass-11", "bob@example.com", ["unrelated"]),
        // Another account whose address at the provider says alice's.
        ("impostor", "mallory", "mallory-provider-pass", "alice@example.com", ["team-a"]),
    ]

    @Test(
        "a person signs in at the provider in a browser and gets the role and workflows of their groups; replayed, injected or mis-issued answers sign nobody in"
    )
    func signInThroughProvider() async throws {
        let dsn = try await newDatabase()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let ca = try TestCA()
        defer { ca.remove() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gc-oidc-\(UUID())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        // The UI's port first: the provider knows the collector by its redirect URI.
        let uiPort = try LocalPostgres.freePort()
        let ui = "http://127.0.0.1:\(uiPort)"
        let accounts = JSONValue.array(
            Self.users.map { _, name, password, email, groups in
                .object([
                    .init("username", .string(name)), .init("password", .string(password)), .init("email", .string(email)),
                    .init("groups", .array(groups.map { .string($0) })),
                ])
            })
        let provider = try ChildProcess.spawn(
            [
                try sdkPython(), root + "/Tests/interop/identity_provider.py", "--cert", ca.certFile, "--key", ca.keyFile, "--ready-file",
                scratch + "/ready.json", "--data-dir", scratch, "--client-id", "governance-collector", "--client-secret", Self.clientSecret,
                "--redirect-uri", ui + "/login/oidc/callback", "--users", accounts.serialized(),
            ], outputPath: scratch + "/provider.log")
        defer { _ = provider.stop() }
        #expect(try await eventually(120) { FileManager.default.fileExists(atPath: scratch + "/ready.json") })
        let ready = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: scratch + "/ready.json"))))
        let issuer = try #require(ready["issuer"]?.stringValue)

        let config = """
              endpoint: 127.0.0.1:\(uiPort)
              admin_password: "\(uiPassword)"
              oidc:
                issuer: \(issuer)
                client_id: governance-collector
                client_secret: \(Self.clientSecret)
                public_url: \(ui)
                ca_file: \(ca.caFile)
                label: Sign in with Example SSO
                groups:
                  - group: governance-admins
                    role: admin
                  - group: team-a
                    role: viewer
                    workflows: [wf-test]
            """
        try await PeopleTests.withAdmin(dsn: dsn, ui: config) { collector, _, admin in
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-of-a")).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-of-b"), token: otherToken).status == 201)

            let report = scratch + "/report.json"
            let log = scratch + "/signin.log"
            let users = JSONValue.object(Self.users.map { .init($0.0, .array([.string($0.1), .string($0.2)])) })
            let (status, output) = try await BrowserTurn.shared.script(
                [
                    try sdkPython(), root + "/Tests/interop/oidc_signin.py", "--ui", ui, "--provider",
                    "https://localhost:\(ready["port"]?.serialized() ?? "")",
                    "--ca", ca.caFile, "--cert", ca.certFile, "--users", users.serialized(), "--out", report,
                ], log: log, within: 300)
            #expect(status == 0, "\(output.suffix(3000))")
            let facts = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: report))))
            func step(_ name: String) -> JSONValue { facts[name] ?? .null }
            for name in [
                "viewer", "admin", "nobody", "injected", "impostor", "forged", "wrong_audience", "wrong_issuer", "wrong_nonce", "expired",
                "unverified",
                "ungrouped", "after_tampering",
            ] {
                #expect(step(name)["error"] == nil, "\(name): \(step(name)["error"]?.stringValue ?? "") \(step(name)["where"]?.stringValue ?? "")")
            }

            // The browser went to the provider, came back across sites and is signed in with
            // the role and the workflows of alice's groups, and no more.
            let viewer = step("viewer")
            #expect(viewer["provider_page"]?.stringValue?.hasPrefix("https://localhost:") == true)
            #expect(viewer["url"]?.stringValue == ui + "/timeline")
            #expect(viewer["person"]?.stringValue == "alice@example.com (viewer)")
            #expect(viewer["workflows"] == .array([.string("wf-test")]))
            let cookie = viewer["cookies"]?.arrayValue?.first { $0["name"]?.stringValue == "gc_session" }
            #expect(cookie?["sameSite"]?.stringValue == "Strict" && cookie?["httpOnly"] == .bool(true))
            // The same callback again, in the same browser: the login was used.
            #expect(viewer["replay"]?["login_error"]?.stringValue?.contains("was used already") == true)
            // Signing out ends the session: the timeline asks for a sign-in again.
            #expect(viewer["signout"]?["after_signout"]?.stringValue?.hasPrefix(ui + "/login") == true)
            #expect(viewer["signout"]?["timeline_then"]?.stringValue?.hasPrefix(ui + "/login") == true)
            #expect(step("admin")["person"]?.stringValue == "carol@example.com (admin)")
            #expect(step("nobody")["login_error"]?.stringValue?.contains("in no group this collector grants a role to") == true)

            // A callback opened in a browser that did not begin the login is refused and leaves
            // the login open for the one that did; a second use is refused.
            let injected = step("injected")
            #expect(injected["begun"]?["binding_cookie"]?.stringValue?.contains("SameSite=Lax") == true)
            #expect(injected["begun"]?["authorize"]?.stringValue?.contains("code_challenge_method=S256") == true)
            #expect(injected["other_browser"]?["status"] == .number("400") && injected["other_browser"]?["signed_in"] == .bool(false))
            #expect(injected["same_browser"]?["status"] == .number("200") && injected["same_browser"]?["signed_in"] == .bool(true))
            #expect(injected["same_browser"]?["refresh"] == .bool(true))
            #expect(injected["again"]?["status"] == .number("400") && injected["again"]?["signed_in"] == .bool(false))

            // ID tokens the provider signed with a claim that is not for this sign-in.
            for (name, words) in [
                ("forged", "signature does not verify"), ("wrong_audience", "not this collector"), ("wrong_issuer", "issuer"),
                ("wrong_nonce", "nonce"), ("expired", "expired"),
            ] {
                #expect(step(name)["status"] == .number("401") && step(name)["signed_in"] == .bool(false), "\(name)")
                #expect(step(name)["login_error"]?.stringValue?.contains(words) == true, "\(name): \(step(name)["login_error"]?.stringValue ?? "")")
            }
            #expect(step("impostor")["status"] == .number("403") && step("impostor")["login_error"]?.stringValue?.contains("someone else") == true)
            #expect(
                step("unverified")["status"] == .number("403") && step("unverified")["login_error"]?.stringValue?.contains("not verified") == true)
            #expect(step("ungrouped")["status"] == .number("403") && step("ungrouped")["signed_in"] == .bool(false))
            // Out of every mapped group, alice lost her role here and her sessions ended; back in
            // them, she signed in again.
            #expect(step("after_tampering")["signed_in"] == .bool(true))
            #expect(
                try await scalar(
                    dsn, "SELECT count(*) FROM governance_ui_sessions WHERE person = 'alice@example.com' AND ended_by = 'identity-provider'")
                    == "1")
            #expect(
                try await scalar(dsn, "SELECT count(*) FROM governance_ui_sessions WHERE person = 'alice@example.com' AND ended_at IS NULL") == "1")

            // The provider's people are people here, marked as such; their role is not edited here.
            #expect(
                try await scalar(
                    dsn,
                    "SELECT role || ' ' || array_to_string(workflows, ',') || ' ' || signs_in_with FROM governance_users WHERE name = 'alice@example.com'"
                ) == "viewer wf-test oidc")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_users WHERE name = 'bob@example.com'") == "0")
            // Bound to the provider's account it first signed in as (iss and sub).
            #expect(
                try await scalar(dsn, "SELECT oidc_subject FROM governance_users WHERE name = 'alice@example.com'")?.hasPrefix(issuer + " ") == true)
            let people = try await admin.get("/people")
            #expect(people.text.contains("identity provider"))
            #expect(try await PeopleTests.save(admin, name: "alice@example.com", role: "admin").status == 409)
            // Every login was used or is still bound to its browser (the injected one's first try).
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_oidc_logins") == "0")

            // Each sign-in and each refusal is an access event, chained like any other.
            let signins = try await scalar(
                dsn,
                "SELECT string_agg(agent_id, ',' ORDER BY agent_id) FROM governance_audit_events WHERE kind = 'access.signin' AND metadata_json->>'method' = 'oidc'"
            )
            #expect(signins?.split(separator: ",").filter { $0 == "alice@example.com" }.count == 3)
            #expect(signins?.contains("carol@example.com") == true)
            let refusals = try await scalar(
                dsn,
                "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.signin_failed' AND metadata_json->>'method' = 'oidc'")
            // nobody, the viewer's replay, the injected callback and its second use, the impostor,
            // a forged and four mis-issued tokens, an unverified address, a person out of every group.
            #expect(refusals == "12")
            #expect(try await verifyCommand(dsn: dsn).0 == 0)
        }
    }
}
