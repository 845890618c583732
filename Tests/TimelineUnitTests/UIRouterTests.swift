import AuditStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import Timeline

/// The UI's router on Hummingbird's own model: the middleware's answers (security headers, the
/// sign-in requirement, sessions and CSRF, the loopback Host check, typed forms and queries),
/// through routes that answer before reading the database.
@Suite("UI router: middleware, sessions, forms")
struct UIRouterTests {
    static let password = "correct-horse-battery-staple"

    /// A UI whose database is never reached by these routes.
    static func app(password: String? = Self.password, token: String? = nil) -> some ApplicationProtocol {
        var config = TimelineConfig()
        (config.adminPassword, config.adminToken) = (password, token)
        let server = TimelineServer(
            config: config, database: AuditDatabase(dsn: "", logger: Logger(label: "ui-test")), logger: Logger(label: "ui-test"))
        return Application(router: server.makeRouter())
    }

    static func cookie(_ response: TestResponse) -> String? {
        response.headers[.setCookie]?.split(separator: ";").first.map(String.init)
    }

    static func csrf(_ response: TestResponse) -> String? {
        let html = String(buffer: response.body)
        guard let start = html.range(of: #"name="csrf" value=""#) else { return nil }
        return String(html[start.upperBound...].prefix { $0 != "\"" })
    }

    @Test("every answer carries the security headers: pages, assets, redirects, refusals and unknown paths")
    func securityHeaders() async throws {
        try await Self.app().test(.router) { client in
            for (path, status) in [("/login", HTTPResponse.Status.ok), ("/static/app.css", .ok), ("/timeline", .seeOther), ("/nope", .notFound)] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == status, "\(path)")
                    #expect(response.headers[.contentSecurityPolicy] == TimelineServer.contentSecurityPolicy, "\(path)")
                    #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                    #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(path)")
                }
            }
        }
    }

    @Test("signed out: a page view goes to sign-in, a form or the event stream is refused, and nothing is answered")
    func signInRequired() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/timeline", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/login")
            }
            try await client.execute(uri: "/stream", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/workflows/tokens", method: .post, body: ByteBuffer(string: "workflow=x")) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("sign in first"))
            }
        }
    }

    // Signing in reads PostgreSQL (sessions, failed sign-ins): PeopleTests has the rest.
    @Test("sign-in: a form whose CSRF token does not match the visitor's session is refused before anything is checked")
    func signInCSRF() async throws {
        try await Self.app().test(.router) { client in
            let loginPage = try await client.execute(uri: "/login", method: .get)
            let cookie = try #require(loginPage.headers[.setCookie])
            #expect(cookie.hasPrefix("gc_session=") && cookie.hasSuffix("; Path=/; HttpOnly; SameSite=Strict"))
            // Without its cookie, the page's own token belongs to a session the visitor no longer has.
            let csrf = try #require(Self.csrf(loginPage))
            for token in ["forged", csrf] {
                let refused = try await client.execute(
                    uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "csrf=\(token)&password=\(Self.password)"))
                #expect(refused.status == .forbidden)
                #expect(String(buffer: refused.body).contains("CSRF check failed"))
            }
        }
    }

    @Test("a malformed form or query is refused by name, before anything is read")
    func typedFormsAndQueries() async throws {
        try await Self.app(token: "an-admin-token-of-at-least-24-chars").test(.router) { client in
            let bearer: HTTPFields = [.authorization: "Bearer an-admin-token-of-at-least-24-chars"]
            try await client.execute(uri: "/timeline?agent=a&agent=b", method: .get, headers: bearer) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("agent"))
                #expect(response.headers[.setCookie] == nil, "a script with the admin token gets no cookie")
            }
            try await client.execute(uri: "/workflows/tokens", method: .post, headers: bearer, body: ByteBuffer(string: "workflow=a&workflow=b")) {
                response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("workflow"))
            }
            try await client.execute(uri: "/logout", method: .post, headers: bearer, body: ByteBuffer(string: String(repeating: "x", count: 70_000)))
            { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    // The loopback Host check needs a foreign Host header, which Hummingbird's test clients
    // replace with `localhost`: TimelineTests sends one over a real socket (421).
    @Test("without credentials every visitor is signed in, with a session cookie of their own")
    func openUI() async throws {
        try await Self.app(password: nil).test(.router) { client in
            try await client.execute(uri: "/login", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/timeline")
                #expect(Self.cookie(response) != nil)
            }
        }
    }
}
