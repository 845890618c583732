package import AuditStore
import Config
import Foundation
import HTTPTypes
import Hummingbird
import Listeners
package import Logging
import Mustache
import NIOCore
package import Pipeline
import ServiceLifecycle
import Synchronization

/// The timeline web UI on its own address: server-rendered pages over the events in the
/// pipeline's PostgreSQL, live updates by server-sent events, and the managed workflow tokens.
/// Every response carries a strict Content-Security-Policy (scripts and styles from this origin
/// only, nothing inline), every page comes from escaped templates, and every form that changes
/// something carries a CSRF token bound to the signed session cookie.
package final class TimelineServer: Service, Sendable {
    let config: TimelineConfig
    let queries: EventQueries
    let dashboard: DashboardQueries
    let rollup: RollupWorker
    /// The collector's own state (pipelines' PostgreSQL, receivers), as `/readyz` reports it.
    let health: @Sendable () -> [String: String]
    let feed: LiveFeed
    let tokens: PostgresTokenStore
    /// The approval gates of the database, which the inbox lists and people decide.
    let gates: PostgresGates
    /// Where the collector's own events of a decision are committed (nil in tests of pages alone).
    let pipeline: Pipeline?
    /// The people, their sessions and failed sign-ins (PostgreSQL).
    let people: PostgresPeople
    let sessions: UISessions
    /// The OpenID Connect provider people sign in through (`ui.oidc`); nil when off.
    let openID: OpenIDProvider?
    let throttle = SignInThrottle()
    let pages: PageRenderer
    /// The pipeline's redaction, for metadata shown on the detail page (unless raw is asked for).
    let redactor: Redactor
    let logger: Logger
    /// What the live feed, the rollup and the sign-in delay are timed by (the collector's clock).
    let clock: any Clock<Duration>
    let listenerMetrics: ListenerMetrics
    private let bound = Mutex<Int?>(nil)
    private let exportsRunning = Atomic<Int>(0)

    package static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// Reads `database`'s events and manages its tokens (`database.tokens`, run by the collector).
    package init(
        config: TimelineConfig, database: AuditDatabase, pipeline: Pipeline? = nil, redactor: Redactor = Redactor(), telemetry: Telemetry = .disabled,
        health: @escaping @Sendable () -> [String: String] = { [:] }, clock: any Clock<Duration> = ContinuousClock(), logger: Logger
    ) {
        self.redactor = redactor
        self.clock = clock
        listenerMetrics = ListenerMetrics(telemetry, listener: "ui")
        self.config = config
        queries = EventQueries(database: database, readDSN: config.readDSN)
        dashboard = DashboardQueries(pool: queries.reads)
        rollup = RollupWorker(worker: database.worker(applicationName: "governance-collector-ui-rollup"), clock: clock, logger: logger)
        self.health = health
        feed = LiveFeed(database: database, clock: clock, logger: logger)
        tokens = database.tokens
        gates = PostgresGates(database: database)
        self.pipeline = pipeline
        people = PostgresPeople(pool: queries.pool)
        sessions = UISessions(people: people, config: config)
        openID = config.openID.map(OpenIDProvider.init)
        pages = PageRenderer(requiresLogin: config.requiresLogin)
        self.logger = logger
    }

    /// Every route, as `METHOD /path/{capture}` (what a test of access enumerates, so a route
    /// added later without its checks fails it).
    package var routes: [String] { makeRouter().routes.map(\.description) }

    /// The port actually bound (useful with port 0); nil until listening.
    package var port: Int? { bound.withLock { $0 } }

    package func run() async throws {
        if config.ignoresSessionSecret {
            logger.warning(
                "ui.session_secret_unused",
                metadata: ["hint": "sessions are kept in PostgreSQL and shared by every collector on it; remove ui.session_secret"])
        }
        if !config.requiresLogin {
            logger.warning(
                "ui.open",
                metadata: [
                    "address": "\(config.host):\(config.port)",
                    "hint": "no admin_password or admin_token: anyone who can reach this loopback address can manage tokens",
                ])
        }
        let app = Application(
            router: makeRouter(),
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

    /// Every answer gets the security headers; without credentials only a loopback Host is
    /// served; every page's visitor has a session; handlers' errors become pages. Signing in
    /// and the assets are open, everything else needs a signed-in visitor.
    func makeRouter() -> Router<UIRequestContext> {
        let router = Router(context: UIRequestContext.self)
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(LoopbackHostMiddleware(requiresLogin: config.requiresLogin))
        router.middlewares.add(APIPathMiddleware())
        if config.readDSN != nil { router.middlewares.add(ReadSourceMiddleware()) }
        // The assets need no visitor: no session lookup in PostgreSQL for each stylesheet.
        router.get("/static/app.css") { _, _ in UIResponses.asset(Assets.css, type: "text/css; charset=utf-8") }
        router.get("/static/app.js") { _, _ in UIResponses.asset(Assets.js, type: "text/javascript; charset=utf-8") }
        let visited = router.group()
            .add(middleware: SessionMiddleware(sessions: sessions, config: config, logger: logger))
            .add(middleware: PageErrorMiddleware(pages: pages, logger: logger))
        addSignInRoutes(to: visited)
        addEmailSignInRoutes(to: visited)
        addOpenIDRoutes(to: visited)
        addReadAPIRoutes(to: router)

        let signedIn = visited.group().add(middleware: RequireSignInMiddleware()).add(middleware: APIKeyScopeMiddleware())
        signedIn.get("/") { request, context in try await self.dashboardPage(request, context.visit) }
        signedIn.post("/logout") { request, context in
            _ = try await self.form(PlainForm.self, request, context)
            return try await self.signOut(context.visit)
        }
        signedIn.get("/timeline") { request, context in try await self.timelinePage(request, context.visit) }
        signedIn.get("/stream") { request, context in try self.stream(request, context.visit) }
        signedIn.get("/events/:id") { request, context in
            try await self.detailPage(id: context.parameters.get("id"), raw: request.queryFields()["view"] == "raw", context.visit, verify: nil)
        }
        signedIn.get("/sessions/:id") { _, context in try await self.sessionPage(id: context.parameters.get("id"), context.visit, verify: nil) }
        signedIn.post("/sessions/:id/verify") { request, context in
            let form = try await self.form(VerifyForm.self, request, context)
            return try await self.verify(session: context.parameters.get("id"), event: form.event, context.visit)
        }
        signedIn.get("/export") { request, context in try self.export(request, context.visit) }
        addApprovalRoutes(to: signedIn)
        addPeopleRoutes(to: signedIn)
        addKeyRoutes(to: signedIn)
        let admins = signedIn.group().add(middleware: RequireRoleMiddleware(roles: [.admin]))
        signedIn.get("/workflows") { _, context in try await self.workflowsPage(context.visit, issued: nil, error: nil) }
        signedIn.post("/workflows/tokens") { request, context in
            let form = try await self.form(TokenForm.self, request, context)
            let workflow = (form.workflow ?? "").trimmingCharacters(in: .whitespaces)
            guard context.visit.person?.manages(workflow) == true else {
                throw PageError(status: .forbidden, message: "Only an admin or an owner of \(workflow) issues its tokens.")
            }
            return try await self.issueToken(workflow: workflow, context.visit)
        }
        // Agent keys belong to agents, which any workflow's events may name: admins manage them.
        admins.post("/agent-keys") { request, context in
            let form = try await self.form(AgentKeyForm.self, request, context)
            return try await self.addAgentKey(agent: form.agent ?? "", pem: form.pem ?? "", context.visit)
        }
        admins.post("/agent-keys/:fingerprint/revoke") { request, context in
            let form = try await self.form(RevokeKeyForm.self, request, context)
            return try await self.revokeAgentKey(fingerprint: context.parameters.get("fingerprint") ?? "", reason: form.reason ?? "", context.visit)
        }
        signedIn.post("/tokens/:fingerprint/revoke") { request, context in
            _ = try await self.form(PlainForm.self, request, context)
            let fingerprint = context.parameters.get("fingerprint") ?? ""
            guard let token = try await self.tokens.list().first(where: { $0.fingerprint == fingerprint }) else {
                throw PageError(status: .notFound, message: "There is no such token.")
            }
            guard context.visit.person?.manages(token.workflow) == true else {
                throw PageError(status: .forbidden, message: "Only an admin or an owner of \(token.workflow) revokes its tokens.")
            }
            if try await self.tokens.revoke(fingerprint: fingerprint) {
                self.logger.notice("ui.token_revoked", metadata: ["fingerprint": "\(fingerprint)"])
            }
            return UIResponses.redirect("/workflows")
        }
        return router
    }

    /// The posted form, refused unless it carries the CSRF token of the visitor's session (or
    /// the visitor is a script signed in with the admin token).
    func form<Form: UIForm>(_ type: Form.Type, _ request: Request, _ context: UIRequestContext) async throws -> Form {
        let form = try await request.decodedForm(type)
        guard context.visit.bearer || SessionID.isValidCSRF(form.csrf, for: context.visit.sessionID) else {
            logger.warning("ui.csrf_refused", metadata: ["path": "\(request.uri.path)"])
            throw PageError(
                status: .forbidden, message: "This form is stale or did not come from this UI (CSRF check failed). Reload the page and try again.")
        }
        return form
    }

    // MARK: Pages

    private func timelinePage(_ request: Request, _ visit: Visit) async throws -> Response {
        let query = try request.queryFields()
        var (filter, problems) = EventFilter.parse(query)
        filter.workflows = visit.scope
        let position = feed.position
        async let names = queries.workflowNames()
        let (events, more) = try await queries.page(filter, size: config.pageSize)
        // A filtered view is a search; its first page is recorded (paging on continues the same one).
        if !filter.queryItems.isEmpty && filter.before == nil {
            await recordAccess(
                "searched", by: visit,
                details: [.init("filter", .string(queryString(filter.queryItems))), .init("rows", .number(String(events.count)))])
        }
        var page = TimelineView.page(events: events, filter: filter, workflows: try await names.filter(visit.reads), more: more, now: .now())
        page.problems = problems
        page.live = filter.isLive && feed.isAvailable ? "true" : "false"
        page.liveState = "off"
        page.liveText =
            filter.searchesMetadata
            ? "not live (a metadata search)"
            : !filter.isLive
                ? "not live (an older page or a closed time range)"
                : feed.isAvailable ? "connecting…" : "live updates need the governance_txid column (see docs/operations.md)"
        page.streamURL = "/stream?" + queryString(filter.queryItems + [("after", String(position))])
        return pages.page(title: "Timeline", page, visit)
    }

    private func dashboardPage(_ request: Request, _ visit: Visit) async throws -> Response {
        let query = try request.queryFields()
        guard let window = DashboardWindow(rawValue: query["window"].flatMap { $0.isEmpty ? nil : $0 } ?? "hour") else {
            throw PageError(status: .badRequest, message: "window must be hour, day or week.")
        }
        var workflow = query["workflow"].flatMap { $0.isEmpty ? nil : $0 }
        // Someone who reads some workflows sees one at a time, theirs: never the sum of all.
        if let scope = visit.scope {
            guard let mine = workflow ?? scope.first, scope.contains(mine) else {
                throw PageError(
                    status: .notFound, message: workflow == nil ? "No workflow is granted to you yet." : "No workflow of yours has that name.")
            }
            workflow = mine
        }
        let position = feed.position
        async let names = queries.workflowNames()
        guard let data = try await dashboard.load(window, workflow: workflow) else {
            throw PageError(
                status: .serviceUnavailable,
                message: "The dashboard follows the table in commit order and needs the governance_txid column (see docs/operations.md).")
        }
        var page = DashboardView.page(data, workflow: workflow, workflows: try await names.filter(visit.reads), now: .now())
        page.health = health().sorted { $0.key < $1.key }.map { .init(name: $0.key, state: $0.value) }
        page.live = feed.isAvailable ? "true" : "false"
        page.liveText = feed.isAvailable ? "connecting…" : "not live yet"
        // Rows the figures already count (the feed may publish them after `position`) are skipped by the stream.
        let seen = data.snapshot.map { [("seen", $0.text)] } ?? []
        page.streamURL = "/stream?" + queryString((workflow.map { [("workflow", $0)] } ?? []) + [("after", String(position))] + seen)
        page.windowStart = String(data.from)
        return pages.page(title: "Dashboard", page, visit)
    }

    private func stream(_ request: Request, _ visit: Visit) throws -> Response {
        let query = try request.queryFields()
        var (parsed, _) = EventFilter.parse(query)
        parsed.workflows = visit.scope
        let filter = parsed
        let after = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0) } ?? query["after"].flatMap { Int64($0) } ?? feed.position
        let seen = query["seen"].flatMap(PGSnapshot.init)
        let subscription = feed.subscribe(after: after)
        let feed = feed
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
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

    private func detailPage(id: String?, raw: Bool, _ visit: Visit, verify: Verdict?) async throws -> Response {
        guard let id = id.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not an event id.") }
        guard let detail = try await queries.detail(id, workflows: visit.scope), visit.reads(detail.event.workflow) else {
            throw PageError(status: .notFound, message: "No event has that id.")
        }
        if verify == nil {
            await recordAccess(
                "event_viewed", by: visit,
                details: [
                    .init("event_id", .string(id.lowercasedString)), .init("event_workflow", .string(detail.event.workflow)),
                    .init("raw", .bool(raw)),
                ])
        }
        var page = TimelineView.detail(detail, raw: raw, redactor: redactor)
        page.verify = verify
        return pages.page(title: "Event", page, visit)
    }

    private func sessionPage(id: String?, _ visit: Visit, verify: Verdict?) async throws -> Response {
        guard let id = id.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not a session id.") }
        let (events, total) = try await queries.session(id, limit: Self.sessionPageLimit, workflows: visit.scope)
        guard !events.isEmpty else { throw PageError(status: .notFound, message: "No session has that id.") }
        if verify == nil { await recordAccess("session_viewed", by: visit, details: [.init("session_id", .string(id.lowercasedString))]) }
        var page = TimelineView.session(id: id, events: events, total: total)
        page.verify = verify
        return pages.page(title: "Session", page, visit)
    }

    /// The most events a session page lists (the verify button still checks them all).
    static let sessionPageLimit = 2000

    /// A download of the filtered view, streamed a page at a time from one snapshot, on a
    /// connection of its own; at most `maxExports` at once, so downloads cannot starve the pages.
    private func export(_ request: Request, _ visit: Visit) throws -> Response {
        let query = try request.queryFields()
        var (filter, problems) = EventFilter.parse(query)
        filter.workflows = visit.scope
        guard let format = EventExport.Format(rawValue: query["format"] ?? "ndjson") else {
            throw PageError(status: .badRequest, message: "format must be csv or ndjson.")
        }
        if let problem = problems.first { throw PageError(status: .badRequest, message: problem) }
        guard exportsRunning.add(1, ordering: .relaxed).newValue <= Self.maxExports else {
            exportsRunning.subtract(1, ordering: .relaxed)
            throw PageError(status: .serviceUnavailable, message: "\(Self.maxExports) exports are already running; try again when one has finished.")
        }
        let export = EventExport(format: format, filter: filter)
        let asked = queryString(filter.queryItems)
        let worker = queries.exportWorker()
        let logger = logger
        let name = "governance-events-\(Timestamp.now().pythonISOFormat.prefix(19).replacingOccurrences(of: ":", with: "")).\(format.rawValue)"
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType, .cacheControl: "no-store",
                HTTPField.Name("Content-Disposition")!: "attachment; filename=\"\(name)\"",
            ],
            body: ResponseBody { writer in
                defer { self.exportsRunning.subtract(1, ordering: .relaxed) }
                // Recorded however it ends: an export cut short by the client is still an export.
                let rows: Int
                do {
                    rows = try await export.write(via: worker) { text in try await writer.write(ByteBuffer(string: text)) }
                } catch {
                    await self.recordAccess(
                        "exported", by: visit,
                        details: [.init("filter", .string(asked)), .init("format", .string(format.rawValue)), .init("completed", .bool(false))])
                    throw error
                }
                logger.info("ui.export", metadata: ["format": "\(format.rawValue)", "events": "\(rows)"])
                await self.recordAccess(
                    "exported", by: visit,
                    details: [
                        .init("filter", .string(asked)), .init("format", .string(format.rawValue)), .init("completed", .bool(true)),
                        .init("rows", .number(String(rows))),
                    ])
                try await writer.finish(nil)
            })
    }

    static let maxExports = 2

    private func verify(session: String?, event: String?, _ visit: Visit) async throws -> Response {
        guard let session = session.flatMap(UUID.init(text:)) else { throw PageError(status: .badRequest, message: "That is not a session id.") }
        let mine = try await queries.session(session, limit: 1, workflows: visit.scope)
        guard !mine.events.isEmpty else { throw PageError(status: .notFound, message: "No session has that id.") }
        // Verify checks the whole session; one that spans workflows not granted is not theirs to check.
        if visit.scope != nil, try await queries.session(session, limit: 1, workflows: nil).total != mine.total {
            throw PageError(status: .forbidden, message: "This session also holds events of workflows not granted to you; an auditor can verify it.")
        }
        let result: Verdict
        if let secret = config.auditSecret {
            let report = try await queries.verify(session: session, secret: secret)
            result =
                report.isClean
                ? Verdict(
                    state: "intact", text: "intact: all \(report.rows) events of session \(session.lowercasedString) verify (every HMAC and link).")
                : Verdict(state: "tampered", text: "tampered: " + report.problems.map(\.description).joined(separator: "; "))
            logger.info("ui.verify", metadata: ["session": "\(session.lowercasedString)", "result": "\(result.state)"])
            await recordAccess(
                "verified", by: visit, details: [.init("session_id", .string(session.lowercasedString)), .init("result", .string(result.state))])
        } else {
            result = Verdict(
                state: "unavailable",
                text: "No audit secret is configured (a chain processor in this pipeline, or GOVERNANCE_AUDIT_SECRET), so HMACs cannot be checked."
            )
        }
        // From a session page (no event): answer with the session page.
        guard let event, !event.isEmpty else { return try await sessionPage(id: session.lowercasedString, visit, verify: result) }
        return try await detailPage(id: event, raw: false, visit, verify: result)
    }

    private func workflowsPage(
        _ visit: Visit, issued: WorkflowsPage.Issued?, error: String?,
        keyError: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        async let stats = queries.workflowStats()
        // Agent keys name agents of any workflow: listed for those who read every workflow.
        let everything = visit.scope == nil
        async let agentKeys = queries.pool.run { try everything && AgentKeyTable.exists($0) ? AgentKeyTable.list($0) : [] }
        let issuedTokens = try await tokens.list().filter { visit.reads($0.workflow) }
        var page = TimelineView.workflows(
            try await stats.filter { visit.reads($0.name) }, tokens: issuedTokens, agentKeys: try await agentKeys)
        (page.newToken, page.error, page.keyError) = (issued, error, keyError)
        return pages.page(title: "Workflows", page, visit, status: status)
    }

    /// Registers an agent's public key in the SDK's registry, as `agent-key add` does.
    private func addAgentKey(agent: String, pem: String, _ visit: Visit) async throws -> Response {
        let agent = agent.trimmingCharacters(in: .whitespaces)
        guard !agent.isEmpty, agent.utf8.count <= 256 else {
            return try await workflowsPage(
                visit, issued: nil, error: nil, keyError: "agent: give the agent id the key belongs to (1 to 256 bytes).", status: .badRequest)
        }
        let key: AgentPublicKey
        do throws(AgentKeyError) { key = try AgentPublicKey(pem: pem) } catch {
            return try await workflowsPage(visit, issued: nil, error: nil, keyError: "pem: \(error.problem).", status: .badRequest)
        }
        let added = try await queries.pool.run { try AgentKeyTable.add(key, agentID: agent, $0) }
        if added { logger.notice("ui.agent_key_added", metadata: ["agent": "\(agent)", "fingerprint": "\(key.fingerprint)"]) }
        return UIResponses.redirect("/workflows")
    }

    /// Revokes an agent key as `agent-key revoke` does; the operator is recorded as `ui`.
    private func revokeAgentKey(fingerprint: String, reason: String, _ visit: Visit) async throws -> Response {
        let reason = reason.trimmingCharacters(in: .whitespaces)
        guard AgentPublicKey.isFingerprint(fingerprint) else {
            throw PageError(status: .badRequest, message: "That is not an agent key fingerprint.")
        }
        guard !reason.isEmpty, reason.utf8.count <= 200 else {
            return try await workflowsPage(
                visit, issued: nil, error: nil, keyError: "reason: say why the key is revoked (1 to 200 bytes).", status: .badRequest)
        }
        if try await queries.pool.run({ try AgentKeyTable.revoke(fingerprint: fingerprint.lowercased(), reason: reason, operatorID: "ui", $0) }) {
            logger.notice("ui.agent_key_revoked", metadata: ["fingerprint": "\(fingerprint)"])
        }
        return UIResponses.redirect("/workflows")
    }

    private func issueToken(workflow: String, _ visit: Visit) async throws -> Response {
        let name = workflow.trimmingCharacters(in: .whitespaces)
        guard SystemIdentity.isClientWorkflow(name) else {
            return try await workflowsPage(
                visit, issued: nil, error: "A workflow name is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
                status: .badRequest)
        }
        let (token, fingerprint) = try await tokens.issue(workflow: name)
        logger.notice("ui.token_issued", metadata: ["workflow": "\(name)", "fingerprint": "\(fingerprint)"])
        return try await workflowsPage(visit, issued: .init(workflow: name, token: token, fingerprint: fingerprint), error: nil)
    }
}
