import AuditStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Pipeline
import Synchronization

/// A UI request as the middleware hands it on: with the visitor's session and person.
struct UIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set by `SessionMiddleware`; before it (or without it) a visitor who is not signed in.
    var visit: Visit

    init(source: Source) {
        coreContext = .init(source: source)
        visit = Visit(sessionID: "", person: nil, bearer: false, clientAddress: source.channel.remoteAddress?.ipAddress)
    }
}

/// One request's visitor: their session id (the cookie's, or a new one the answer sets), the
/// person signed in with it as the database says now, and where they connect from.
final class Visit: Sendable {
    private let state: Mutex<(sessionID: String, person: Person?, setCookie: String?)>
    var sessionID: String { state.withLock { $0.sessionID } }
    var person: Person? { state.withLock { $0.person } }
    /// The `Set-Cookie` value the answer carries, when the session is new or changed.
    var setCookie: String? { state.withLock { $0.setCookie } }
    /// Signed in with `Authorization: Bearer` (the admin token or an API key: a script): no
    /// cookie, no CSRF.
    let bearer: Bool
    /// The API key it came with, if any: what it may do is its scopes within its person's role.
    let key: UsedAPIKey?
    /// The peer's address (not a forwarded header: nothing here trusts a proxy's word yet).
    let clientAddress: String?

    init(sessionID: String, person: Person?, bearer: Bool, clientAddress: String?, setCookie: String? = nil, key: UsedAPIKey? = nil) {
        state = Mutex((sessionID, person, setCookie))
        self.bearer = bearer
        self.key = key
        self.clientAddress = clientAddress
    }

    var isSignedIn: Bool { person != nil }

    /// The workflows this visitor may read, for every query: nil is every workflow; nobody
    /// signed in reads none.
    var scope: [String]? {
        guard let person else { return [] }
        return person.scope.map { $0.sorted() }
    }

    /// Whether this visitor may read `workflow`'s rows.
    func reads(_ workflow: String) -> Bool { person?.reads(workflow) ?? false }

    /// A new session id (sign-in, sign-out), which the answer sets as the cookie.
    func replaceSession(_ id: String, person: Person?, cookie: String) {
        state.withLock { $0 = (id, person, bearer ? nil : cookie) }
    }
}

/// A refusal answered as a page (`PageErrorMiddleware`).
struct PageError: Error {
    var status: HTTPResponse.Status
    var message: String
}

/// The headers every answer carries: a strict Content-Security-Policy (scripts and styles from
/// this origin only, nothing inline), no sniffing, no referrer, no framing.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own refusals (an unknown path) carry the headers too.
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = TimelineServer.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        return response
    }
}

/// Without credentials the UI trusts whoever can reach its loopback address; a page on another
/// site could still reach it through a DNS name pointed at 127.0.0.1 (DNS rebinding), so then
/// only requests naming a loopback host are served.
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    let requiresLogin: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !requiresLogin else { return try await next(request, context) }
        let authority = request.head.authority ?? ""
        var host = authority
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        guard TimelineConfig.isLoopback(host) else {
            return UIResponses.plain(
                .misdirectedRequest, "this UI has no credentials configured and answers only to a loopback Host, not `\(authority)`")
        }
        return try await next(request, context)
    }
}

/// Finds the visitor's person on every request: the admin token as a bearer, else the live
/// session in PostgreSQL that the cookie names (ended, idle or expired sessions sign nobody in,
/// on any collector), else nobody; a visitor without a cookie gets a fresh session id.
struct SessionMiddleware: RouterMiddleware {
    let sessions: UISessions
    let config: TimelineConfig
    let logger: Logger

    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        let address = context.visit.clientAddress
        let bearer =
            config.adminToken.map { token in IngestToken.bearer(request.headers[.authorization]).map { secretsMatch(String($0), token) } ?? false }
            ?? false
        let cookie = request.cookies[SessionID.cookieName].flatMap { SessionID.isWellFormed($0.value) ? $0.value : nil }
        if let presented = IngestToken.bearer(request.headers[.authorization]), presented.hasPrefix(APIKey.prefix), config.requiresLogin {
            let used: (Person, UsedAPIKey)?
            do {
                used = try await sessions.person(apiKey: String(presented))
            } catch {
                logger.error("ui.session_unavailable", metadata: ["error": "\(error)"])
                return UIResponses.plain(.serviceUnavailable, "API keys are kept in PostgreSQL, which does not answer; try again shortly")
            }
            guard let (person, key) = used else { return UIResponses.plain(.unauthorized, "the API key is unknown, expired or revoked") }
            context.visit = Visit(sessionID: "", person: person, bearer: true, clientAddress: address, key: key)
        } else if bearer {
            context.visit = Visit(sessionID: "", person: Person(name: "admin", role: .admin, method: "token"), bearer: true, clientAddress: address)
        } else if !config.requiresLogin {
            let id = cookie ?? SessionID.random()
            context.visit = Visit(
                sessionID: id, person: Person(name: "local", role: .admin, method: "open"), bearer: false, clientAddress: address,
                setCookie: cookie == nil ? sessions.anonymousCookie(id) : nil)
        } else if let cookie {
            let person: Person?
            do {
                person = try await sessions.person(sessionID: cookie)
            } catch {
                logger.error("ui.session_unavailable", metadata: ["error": "\(error)"])
                return UIResponses.plain(.serviceUnavailable, "sessions are kept in PostgreSQL, which does not answer; try again shortly")
            }
            context.visit = Visit(sessionID: cookie, person: person, bearer: false, clientAddress: address)
        } else {
            // A sign-in link opened from a mail client arrives without the (SameSite=Strict)
            // cookie of the browser that asked: giving it a new one would replace that one.
            let id = SessionID.random()
            let keepsCookie = request.uri.path == "/login/link" && request.method == .get
            context.visit = Visit(
                sessionID: id, person: nil, bearer: false, clientAddress: address, setCookie: keepsCookie ? nil : sessions.anonymousCookie(id))
        }
        var response = try await next(request, context)
        if let cookie = context.visit.setCookie { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return response
    }
}

/// Pages past it are for signed-in visitors: a page view goes to the sign-in page, anything
/// else (a form, the event stream) is refused.
struct RequireSignInMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        guard context.visit.isSignedIn else {
            return request.method == .get && request.uri.path != "/stream"
                ? UIResponses.redirect("/login") : UIResponses.plain(.unauthorized, "sign in first")
        }
        return try await next(request, context)
    }
}

/// What a handler throws, answered as a page: a refusal with its status; a row that cannot be
/// read as itself a finding (never a 404 or a gap); anything else as unavailable, its text kept
/// for the log (a database error can echo what a visitor typed). Hummingbird's own errors (an
/// unknown path, a body too large) keep their status.
struct PageErrorMiddleware: RouterMiddleware {
    let pages: PageRenderer
    let logger: Logger

    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PageError {
            return pages.message("Refused", error.message, context.visit, status: error.status)
        } catch let error as UndecodableRow {
            logger.error("ui.undecodable_row", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return pages.message(
                "Undecodable row", "\(error). Run governance-collector verify: it reports this row.", context.visit, status: .internalServerError)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            logger.error("ui.request_failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return pages.message(
                "Unavailable", "The request could not be answered; the collector's log has the reason (ui.request_failed).",
                context.visit, status: .serviceUnavailable)
        }
    }
}

/// With `ui.read_dsn`: says where each answer's reads ran, `Governance-Read-From: standby` (with
/// `Governance-Read-Lag-Seconds`, how far its replay was behind) or `primary` (no standby
/// answered), so a page or a script knows how fresh it is.
struct ReadSourceMiddleware<Context: RequestContext>: RouterMiddleware {
    static var from: HTTPField.Name { HTTPField.Name("Governance-Read-From")! }
    static var lag: HTTPField.Name { HTTPField.Name("Governance-Read-Lag-Seconds")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let source = ReadSource()
        var response = try await ReadSource.$current.withValue(source) { try await next(request, context) }
        switch source.place {
        case .primary: response.headers[Self.from] = "primary"
        case .standby(let lag):
            response.headers[Self.from] = "standby"
            response.headers[Self.lag] = String(format: "%.3f", lag)
        case nil: break
        }
        return response
    }
}
