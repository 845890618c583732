public import AuditStore
import Config
import Foundation
import HTTPTypes
import Hummingbird
import Listeners
public import Logging
import Mustache
import NIOCore
public import Pipeline
public import ServiceLifecycle
import Synchronization

/// The timeline web UI on its own address: server-rendered pages over the events in the
/// pipeline's PostgreSQL, live updates by server-sent events, and the managed workflow tokens.
/// Every response carries a strict Content-Security-Policy (scripts and styles from this origin
/// only, nothing inline), every page comes from escaped templates, and every form that changes
/// something carries a CSRF token bound to the signed session cookie.
public final class TimelineServer: Service, Sendable {
    let config: TimelineConfig
    let queries: EventQueries
    let dashboard: DashboardQueries
    let rollup: RollupWorker
    /// The collector's own state (pipelines' PostgreSQL, receivers), as `/readyz` reports it.
    let health: @Sendable () -> [String: String]
    let feed: LiveFeed
    let tokens: PostgresTokenStore
    let signer: SessionSigner
    /// The pipeline's redaction, for metadata shown on the detail page (unless raw is asked for).
    let redactor: Redactor
    let logger: Logger
    let listenerMetrics: ListenerMetrics
    private let bound = Mutex<Int?>(nil)
    private let exportsRunning = Atomic<Int>(0)

    public static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// Reads `database`'s events and manages its tokens (`database.tokens`, run by the collector).
    public init(config: TimelineConfig, database: AuditDatabase, redactor: Redactor = Redactor(), telemetry: Telemetry = .disabled,
                health: @escaping @Sendable () -> [String: String] = { [:] }, logger: Logger) {
        self.redactor = redactor
        listenerMetrics = ListenerMetrics(telemetry, listener: "ui")
        self.config = config
        queries = EventQueries(database: database)
        dashboard = DashboardQueries(pool: queries.pool)
        rollup = RollupWorker(worker: database.worker(applicationName: "governance-collector-ui-rollup"), logger: logger)
        self.health = health
        feed = LiveFeed(database: database, logger: logger)
        tokens = database.tokens
        signer = SessionSigner(secret: config.sessionSecret)
        self.logger = logger
    }

    /// The port actually bound (useful with port 0); nil until listening.
    public var port: Int? { bound.withLock { $0 } }

    public func run() async throws {
        if !config.requiresLogin {
            logger.warning("ui.open", metadata: ["address": "\(config.host):\(config.port)",
                                                 "hint": "no admin_password or admin_token: anyone who can reach this loopback address can manage tokens"])
        }
        let router = Router()
        routes(router)
        let app = Application(
            router: router,
            server: LimitedHTTPServer.http1(limits: config.limits, metrics: listenerMetrics),
            configuration: LimitedHTTPServer.configuration(host: config.host, port: config.port, limits: config.limits, metrics: listenerMetrics),
            onServerRunning: { channel in
                self.bound.withLock { $0 = channel.localAddress?.port }
                self.logger.info("ui.listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.feed.run() }
            group.addTask { await self.rollup.run() }
            defer { feed.finish() }
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: {
                // Open event streams end first, so the server's drain is not held up by them.
                self.feed.finish()
            }
        }
    }

    // MARK: Routes

    private func routes(_ router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            await self.respond(request) { visit in try await self.dashboardPage(request, visit) }
        }
        router.get("/static/app.css") { _, _ in Self.asset(Assets.css, type: "text/css; charset=utf-8") }
        router.get("/static/app.js") { _, _ in Self.asset(Assets.js + "\n" + Assets.dashboardJS, type: "text/javascript; charset=utf-8") }
        router.get("/login") { request, _ in
            await self.respond(request, requireLogin: false) { visit in
                visit.session.authenticated ? Self.redirect("/timeline") : self.loginPage(visit, error: nil, status: .ok)
            }
        }
        router.post("/login") { request, _ in
            await self.respond(request, requireLogin: false) { visit in try await self.login(request, visit) }
        }
        router.post("/logout") { request, _ in
            await self.respond(request) { visit in
                try await self.form(request, visit)
                visit.replaceSession(.fresh(authenticated: !self.config.requiresLogin, ttl: self.config.sessionTTL, now: Self.now()))
                return Self.redirect(self.config.requiresLogin ? "/login" : "/timeline")
            }
        }
        router.get("/timeline") { request, _ in
            await self.respond(request) { visit in try await self.timelinePage(request, visit) }
        }
        router.get("/stream") { request, _ in
            await self.respond(request) { _ in self.stream(request) }
        }
        router.get("/events/:id") { request, context in
            await self.respond(request) { visit in
                try await self.detailPage(id: context.parameters.get("id"), raw: Self.query(request)["view"] == "raw", visit, verify: nil)
            }
        }
        router.get("/sessions/:id") { request, context in
            await self.respond(request) { visit in try await self.sessionPage(id: context.parameters.get("id"), visit, verify: nil) }
        }
        router.post("/sessions/:id/verify") { request, context in
            await self.respond(request) { visit in
                let form = try await self.form(request, visit)
                return try await self.verify(session: context.parameters.get("id"), event: form["event"], visit)
            }
        }
        router.get("/export") { request, _ in
            await self.respond(request) { _ in try self.export(request) }
        }
        router.get("/workflows") { request, _ in
            await self.respond(request) { visit in try await self.workflowsPage(visit, issued: nil, error: nil) }
        }
        router.post("/workflows/tokens") { request, _ in
            await self.respond(request) { visit in
                let form = try await self.form(request, visit)
                return try await self.issueToken(workflow: form["workflow"] ?? "", visit)
            }
        }
        router.post("/agent-keys") { request, _ in
            await self.respond(request) { visit in
                let form = try await self.form(request, visit)
                return try await self.addAgentKey(agent: form["agent"] ?? "", pem: form["pem"] ?? "", visit)
            }
        }
        router.post("/agent-keys/:fingerprint/revoke") { request, context in
            await self.respond(request) { visit in
                let form = try await self.form(request, visit)
                return try await self.revokeAgentKey(fingerprint: context.parameters.get("fingerprint") ?? "", reason: form["reason"] ?? "", visit)
            }
        }
        router.post("/tokens/:fingerprint/revoke") { request, context in
            await self.respond(request) { visit in
                try await self.form(request, visit)
                let fingerprint = context.parameters.get("fingerprint") ?? ""
                if try await self.tokens.revoke(fingerprint: fingerprint) {
                    self.logger.notice("ui.token_revoked", metadata: ["fingerprint": "\(fingerprint)"])
                }
                return Self.redirect("/workflows")
            }
        }
    }

    // MARK: Sessions and access

    /// One request's session: the one in its cookie, or a fresh one that the answer sets.
    final class Visit: Sendable {
        private let state: Mutex<(session: UISession, setCookie: Bool)>
        var session: UISession { state.withLock { $0.session } }
        var setCookie: Bool { state.withLock { $0.setCookie } }
        /// Signed in with `Authorization: Bearer <admin_token>` (a script): no cookie, no CSRF.
        let bearer: Bool

        init(session: UISession, setCookie: Bool, bearer: Bool) {
            state = Mutex((session, setCookie))
            self.bearer = bearer
        }

        func replaceSession(_ session: UISession) {
            state.withLock { $0 = (session, !bearer) }
        }
    }

    /// A refusal answered as a page.
    struct PageError: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    private func respond(_ request: Request, requireLogin: Bool = true,
                         _ handler: (Visit) async throws -> Response) async -> Response {
        var response: Response
        var visit: Visit?
        if let refusal = hostRefusal(request) {
            response = Self.plain(.misdirectedRequest, refusal)
        } else {
            let now = Self.now()
            let bearer = config.adminToken.map { token in IngestToken.bearer(request.headers[.authorization]).map { secretsMatch(String($0), token) } ?? false } ?? false
            if let existing = signer.session(fromCookie: request.cookies[SessionSigner.cookieName]?.value, now: now) {
                visit = Visit(session: existing, setCookie: false, bearer: bearer)
            } else {
                visit = Visit(session: .fresh(authenticated: !config.requiresLogin, ttl: config.sessionTTL, now: now), setCookie: !bearer, bearer: bearer)
            }
            let v = visit!
            if requireLogin && !(v.session.authenticated || v.bearer) {
                response = request.method == .get && request.uri.path != "/stream" ? Self.redirect("/login") : Self.plain(.unauthorized, "sign in first")
            } else {
                do {
                    response = try await handler(v)
                } catch let error as PageError {
                    response = page("message", title: "Refused", ["title": "Refused", "text": error.message], v, status: error.status)
                } catch let error as UndecodableRow {
                    // Never a 404 or a gap: the row is there and cannot be shown, which is itself a finding.
                    logger.error("ui.undecodable_row", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                    response = page("message", title: "Undecodable row", ["title": "Undecodable row",
                                    "text": "\(error). Run governance-collector verify: it reports this row."], v, status: .internalServerError)
                } catch {
                    // The database's own text stays in the log: it can echo what a visitor typed.
                    logger.error("ui.request_failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                    response = page("message", title: "Unavailable", ["title": "Unavailable",
                                    "text": "The request could not be answered; the collector's log has the reason (ui.request_failed)."], v, status: .serviceUnavailable)
                }
            }
        }
        if let visit, visit.setCookie {
            response.headers[.setCookie] = "\(SessionSigner.cookieName)=\(signer.cookieValue(visit.session)); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(config.sessionTTL))"
        }
        Self.secure(&response.headers)
        return response
    }

    /// Without credentials the UI trusts whoever can reach its loopback address; a page on
    /// another site could still reach it through a DNS name pointed at 127.0.0.1 (DNS
    /// rebinding), so then only requests naming a loopback host are served.
    private func hostRefusal(_ request: Request) -> String? {
        guard !config.requiresLogin else { return nil }
        let authority = request.head.authority ?? ""
        var host = authority
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return TimelineConfig.isLoopback(host) ? nil : "this UI has no credentials configured and answers only to a loopback Host, not `\(authority)`"
    }

    /// Reads a form body (at most 64 KiB) and checks its CSRF token against the session.
    @discardableResult
    private func form(_ request: Request, _ visit: Visit) async throws -> [String: String] {
        var request = request
        guard let body = try? await request.collectBody(upTo: 64 * 1024) else {
            throw PageError(status: .contentTooLarge, message: "The form is larger than 64 KiB.")
        }
        let fields = FormData.parse(String(buffer: body))
        if !visit.bearer && !signer.isValidCSRF(fields["csrf"], for: visit.session) {
            logger.warning("ui.csrf_refused", metadata: ["path": "\(request.uri.path)"])
            throw PageError(status: .forbidden, message: "This form is stale or did not come from this UI (CSRF check failed). Reload the page and try again.")
        }
        return fields
    }

    private func login(_ request: Request, _ visit: Visit) async throws -> Response {
        let fields: [String: String]
        do {
            fields = try await form(request, visit)
        } catch let error as PageError {
            return loginPage(visit, error: error.message, status: error.status)
        }
        let presented = fields["password"] ?? ""
        let accepted = [config.adminPassword, config.adminToken].contains { $0.map { secretsMatch(presented, $0) } ?? false }
        guard accepted else {
            logger.warning("ui.login_failed")
            try? await Task.sleep(for: .milliseconds(300)) // slows guessing
            return loginPage(visit, error: "That password or token is not right.", status: .unauthorized)
        }
        // A new session id on sign-in, so a session planted before it is worth nothing after.
        visit.replaceSession(.fresh(authenticated: true, ttl: config.sessionTTL, now: Self.now()))
        logger.info("ui.login")
        return Self.redirect("/timeline")
    }

    // MARK: Pages

    private func loginPage(_ visit: Visit, error: String?, status: HTTPResponse.Status) -> Response {
        page("login", title: "Sign in", error.map { ["error": $0] } ?? [:], visit, status: status, nav: false)
    }

    private func timelinePage(_ request: Request, _ visit: Visit) async throws -> Response {
        let query = Self.query(request)
        let (filter, problems) = EventFilter.parse(query)
        let position = feed.position
        async let names = queries.workflowNames()
        let (events, more) = try await queries.page(filter, size: config.pageSize)
        var context = TimelineView.context(events: events, filter: filter, workflows: try await names, more: more, now: .now())
        context["problems"] = problems
        context["live"] = filter.isLive && feed.isAvailable ? "true" : "false"
        context["liveState"] = "off"
        context["liveText"] = filter.searchesMetadata ? "not live (a metadata search)" : !filter.isLive ? "not live (an older page or a closed time range)"
            : feed.isAvailable ? "connecting…" : "live updates need the governance_txid column (see docs/operations.md)"
        context["streamURL"] = "/stream?" + FormData.encode(filter.queryItems + [("after", String(position))])
        return page("timeline", title: "Timeline", context, visit)
    }

    private func dashboardPage(_ request: Request, _ visit: Visit) async throws -> Response {
        let query = Self.query(request)
        guard let window = DashboardWindow(rawValue: query["window"].flatMap { $0.isEmpty ? nil : $0 } ?? "hour") else {
            throw PageError(status: .badRequest, message: "window must be hour, day or week.")
        }
        let workflow = query["workflow"].flatMap { $0.isEmpty ? nil : $0 }
        let position = feed.position
        async let names = queries.workflowNames()
        guard let data = try await dashboard.load(window, workflow: workflow) else {
            throw PageError(status: .serviceUnavailable, message: "The dashboard follows the table in commit order and needs the governance_txid column (see docs/operations.md).")
        }
        var context = DashboardView.context(data, workflow: workflow, workflows: try await names, now: .now())
        context["health"] = health().sorted { $0.key < $1.key }.map { ["name": $0.key, "state": $0.value] }
        context["live"] = feed.isAvailable ? "true" : "false"
        context["liveText"] = feed.isAvailable ? "connecting…" : "not live yet"
        // Rows the figures already count (the feed may publish them after `position`) are skipped by the stream.
        let seen = data.snapshot.map { [("seen", $0.text)] } ?? []
        context["streamURL"] = "/stream?" + FormData.encode((workflow.map { [("workflow", $0)] } ?? []) + [("after", String(position))] + seen)
        context["windowStart"] = String(data.from)
        return page("dashboard", title: "Dashboard", context, visit)
    }

    private func stream(_ request: Request) -> Response {
        let query = Self.query(request)
        let (filter, _) = EventFilter.parse(query)
        let after = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0) } ?? query["after"].flatMap { Int64($0) } ?? feed.position
        let seen = query["seen"].flatMap(PGSnapshot.init)
        let subscription = feed.subscribe(after: after)
        let feed = feed
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: ResponseBody { writer in
            defer { feed.unsubscribe(subscription.id) }
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            for await item in subscription.stream {
                guard let event = item.event else {
                    try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    continue
                }
                guard filter.matches(event), seen?.sees(item.txid) != true else { continue }
                try await writer.write(ByteBuffer(string: "id: \(item.sequence)\nevent: audit\ndata: \(TimelineView.json(event))\n\n"))
            }
            try await writer.finish(nil)
        })
    }

    private func detailPage(id: String?, raw: Bool, _ visit: Visit, verify: (state: String, text: String)?) async throws -> Response {
        guard let id = id.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not an event id.") }
        guard let detail = try await queries.detail(id) else { throw PageError(status: .notFound, message: "No event has that id.") }
        var context = TimelineView.detail(detail, raw: raw, redactor: redactor)
        if let verify { context["verify"] = ["state": verify.state, "text": verify.text] }
        return page("detail", title: "Event", context, visit)
    }

    private func sessionPage(id: String?, _ visit: Visit, verify: (state: String, text: String)?) async throws -> Response {
        guard let id = id.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not a session id.") }
        let (events, total) = try await queries.session(id, limit: Self.sessionPageLimit)
        guard !events.isEmpty else { throw PageError(status: .notFound, message: "No session has that id.") }
        var context = TimelineView.session(id: id, events: events, total: total)
        if let verify { context["verify"] = ["state": verify.state, "text": verify.text] }
        return page("session", title: "Session", context, visit)
    }

    /// The most events a session page lists (the verify button still checks them all).
    static let sessionPageLimit = 2000

    /// A download of the filtered view, streamed a page at a time from one snapshot, on a
    /// connection of its own; at most `maxExports` at once, so downloads cannot starve the pages.
    private func export(_ request: Request) throws -> Response {
        let query = Self.query(request)
        let (filter, problems) = EventFilter.parse(query)
        guard let format = EventExport.Format(rawValue: query["format"] ?? "ndjson") else {
            throw PageError(status: .badRequest, message: "format must be csv or ndjson.")
        }
        if let problem = problems.first { throw PageError(status: .badRequest, message: problem) }
        guard exportsRunning.add(1, ordering: .relaxed).newValue <= Self.maxExports else {
            exportsRunning.subtract(1, ordering: .relaxed)
            throw PageError(status: .serviceUnavailable, message: "\(Self.maxExports) exports are already running; try again when one has finished.")
        }
        let export = EventExport(format: format, filter: filter)
        let worker = queries.exportWorker()
        let logger = logger
        let name = "governance-events-\(Timestamp.now().pythonISOFormat.prefix(19).replacingOccurrences(of: ":", with: "")).\(format.rawValue)"
        return Response(status: .ok, headers: [.contentType: format.contentType, .cacheControl: "no-store",
                                               HTTPField.Name("Content-Disposition")!: "attachment; filename=\"\(name)\""],
                        body: ResponseBody { writer in
            defer { self.exportsRunning.subtract(1, ordering: .relaxed) }
            let rows = try await export.write(via: worker) { text in try await writer.write(ByteBuffer(string: text)) }
            logger.info("ui.export", metadata: ["format": "\(format.rawValue)", "events": "\(rows)"])
            try await writer.finish(nil)
        })
    }

    static let maxExports = 2

    private func verify(session: String?, event: String?, _ visit: Visit) async throws -> Response {
        guard let session = session.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not a session id.") }
        let result: (state: String, text: String)
        if let secret = config.auditSecret {
            let report = try await queries.verify(session: session, secret: secret)
            result = report.isClean
                ? ("intact", "intact: all \(report.rows) events of session \(session.lowercasedString) verify (every HMAC and link).")
                : ("tampered", "tampered: " + report.problems.map(\.description).joined(separator: "; "))
            logger.info("ui.verify", metadata: ["session": "\(session.lowercasedString)", "result": "\(result.state)"])
        } else {
            result = ("unavailable", "No audit secret is configured (a chain processor in this pipeline, or GOVERNANCE_AUDIT_SECRET), so HMACs cannot be checked.")
        }
        // From a session page (no event): answer with the session page.
        guard let event, !event.isEmpty else { return try await sessionPage(id: session.lowercasedString, visit, verify: result) }
        return try await detailPage(id: event, raw: false, visit, verify: result)
    }

    private func workflowsPage(_ visit: Visit, issued: (workflow: String, token: String, fingerprint: String)?, error: String?,
                               keyError: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        async let stats = queries.workflowStats()
        async let agentKeys = queries.pool.run { try AgentKeyTable.exists($0) ? AgentKeyTable.list($0) : [] }
        let issuedTokens = try await tokens.list()
        var context = TimelineView.workflows(try await stats, tokens: issuedTokens, agentKeys: try await agentKeys)
        if let issued { context["newToken"] = ["workflow": issued.workflow, "token": issued.token, "fingerprint": issued.fingerprint] }
        if let error { context["error"] = error }
        if let keyError { context["keyError"] = keyError }
        return page("workflows", title: "Workflows", context, visit, status: status)
    }

    /// Registers an agent's public key in the SDK's registry, as `agent-key add` does.
    private func addAgentKey(agent: String, pem: String, _ visit: Visit) async throws -> Response {
        let agent = agent.trimmingCharacters(in: .whitespaces)
        guard !agent.isEmpty, agent.utf8.count <= 256 else {
            return try await workflowsPage(visit, issued: nil, error: nil, keyError: "agent: give the agent id the key belongs to (1 to 256 bytes).", status: .badRequest)
        }
        let key: AgentPublicKey
        do throws(AgentKeyError) { key = try AgentPublicKey(pem: pem) } catch {
            return try await workflowsPage(visit, issued: nil, error: nil, keyError: "pem: \(error.problem).", status: .badRequest)
        }
        let added = try await queries.pool.run { try AgentKeyTable.add(key, agentID: agent, $0) }
        if added { logger.notice("ui.agent_key_added", metadata: ["agent": "\(agent)", "fingerprint": "\(key.fingerprint)"]) }
        return Self.redirect("/workflows")
    }

    /// Revokes an agent key as `agent-key revoke` does; the operator is recorded as `ui`.
    private func revokeAgentKey(fingerprint: String, reason: String, _ visit: Visit) async throws -> Response {
        let reason = reason.trimmingCharacters(in: .whitespaces)
        guard AgentPublicKey.isFingerprint(fingerprint) else { throw PageError(status: .badRequest, message: "That is not an agent key fingerprint.") }
        guard !reason.isEmpty, reason.utf8.count <= 200 else {
            return try await workflowsPage(visit, issued: nil, error: nil, keyError: "reason: say why the key is revoked (1 to 200 bytes).", status: .badRequest)
        }
        if try await queries.pool.run({ try AgentKeyTable.revoke(fingerprint: fingerprint.lowercased(), reason: reason, operatorID: "ui", $0) }) {
            logger.notice("ui.agent_key_revoked", metadata: ["fingerprint": "\(fingerprint)"])
        }
        return Self.redirect("/workflows")
    }

    private func issueToken(workflow: String, _ visit: Visit) async throws -> Response {
        let name = workflow.trimmingCharacters(in: .whitespaces)
        guard SystemIdentity.isClientWorkflow(name) else {
            return try await workflowsPage(visit, issued: nil, error: "A workflow name is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
                                           status: .badRequest)
        }
        let (token, fingerprint) = try await tokens.issue(workflow: name)
        logger.notice("ui.token_issued", metadata: ["workflow": "\(name)", "fingerprint": "\(fingerprint)"])
        return try await workflowsPage(visit, issued: (name, token, fingerprint), error: nil)
    }

    // MARK: Responses

    private func page(_ template: String, title: String, _ context: [String: Any], _ visit: Visit,
                      status: HTTPResponse.Status = .ok, nav: Bool = true) -> Response {
        var context = context
        let csrf = signer.csrfToken(for: visit.session)
        context["csrf"] = csrf
        let body = Templates.library.render(context, withTemplate: template) ?? ""
        let html = Templates.library.render(["title": title, "body": body, "csrf": csrf,
                                             "nav": nav ? ["signedIn": config.requiresLogin && !visit.bearer] as Any : false as Any],
                                            withTemplate: "layout") ?? ""
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func secure(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = JSONValue.object([.init("ok", .bool(false)), .init("error", .string(message))]).serialized() + "\n"
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func asset(_ text: String, type: String) -> Response {
        var response = Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
        secure(&response.headers)
        return response
    }

    static func query(_ request: Request) -> [String: String] {
        FormData.parse(request.uri.query ?? "")
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

/// `application/x-www-form-urlencoded`, both ways.
enum FormData {
    /// The first value of each name; `+` is a space, `%XX` a byte.
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }

    static func encode(_ items: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return items.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }
}
