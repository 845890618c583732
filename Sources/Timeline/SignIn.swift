import AuditStore
import Config
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import Logging
import NIOPosix
import Pipeline

/// How failed sign-ins slow and then stop guessing. Failures are counted per account name (known
/// or not, so the answers tell nothing about which exist) and per client address, in PostgreSQL,
/// over a window that starts at the first failure: every collector on the database counts together.
struct SignInThrottle: Sendable {
    /// Failures of one name, or from one address, before each answer is delayed.
    let slowAfter = (account: 5, address: 10)
    /// Failures before sign-ins are refused, the right password included, until the window ends.
    let refuseAfter = (account: 10, address: 50)
    let windowSeconds = 900
    let delay: Duration = .seconds(1)

    static func keys(account: String, address: String?) -> (account: String, address: String) {
        ("account:" + account.lowercased(), "address:" + (address ?? "unknown"))
    }
}

extension TimelineServer {
    func addSignInRoutes(to router: RouterGroup<UIRequestContext>) {
        router.get("/login") { _, context in
            context.visit.isSignedIn ? UIResponses.redirect("/timeline") : self.loginPage(context.visit, error: nil, status: .ok)
        }
        router.post("/login") { request, context in try await self.signIn(request, context) }
    }

    func signOut(_ visit: Visit) async throws -> Response {
        if let person = visit.person, !visit.bearer, person.method != "open", try await sessions.end(visit.sessionID, by: person.name) {
            await recordAccess("signout", by: visit)
        }
        let id = SessionID.random()
        visit.replaceSession(id, person: nil, cookie: sessions.anonymousCookie(id))
        return UIResponses.redirect(config.requiresLogin ? "/login" : "/timeline")
    }

    private func signIn(_ request: Request, _ context: UIRequestContext) async throws -> Response {
        let visit = context.visit
        let form: LoginForm
        do {
            form = try await self.form(LoginForm.self, request, context)
        } catch let error as PageError {
            return loginPage(visit, error: error.message, status: error.status)
        }
        let name = form.name.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 } ?? TimelineConfig.bootstrapAdmin
        let password = form.password ?? ""
        let keys = SignInThrottle.keys(account: String(name.prefix(128)), address: visit.clientAddress)
        let limits = throttle
        let counted = try await people.failures(keys: [keys.account, keys.address], windowSeconds: limits.windowSeconds)
        let (account, address) = (counted[keys.account] ?? .none, counted[keys.address] ?? .none)
        if account.count >= limits.refuseAfter.account || address.count >= limits.refuseAfter.address {
            let retry = max(
                account.count >= limits.refuseAfter.account ? account.retryAfter : 0,
                address.count >= limits.refuseAfter.address ? address.retryAfter : 0)
            logger.warning("ui.signin_refused", metadata: ["client_address": "\(visit.clientAddress ?? "?")"])
            var response = loginPage(
                visit, error: "Too many failed sign-ins for this name or from this address. Try again in \(max(retry / 60, 1)) min.",
                status: .tooManyRequests)
            response.headers[.retryAfter] = String(max(retry, 1))
            return response
        }
        guard let person = try await authenticate(name: name, password: password) else {
            let failures = try await people.countFailure(keys: [keys.account, keys.address], windowSeconds: limits.windowSeconds)
            logger.warning("ui.login_failed", metadata: ["client_address": "\(visit.clientAddress ?? "?")"])
            await recordAccess(
                AccessEvent.make(
                    "signin_failed", person: "anonymous", session: nil, clientAddress: visit.clientAddress,
                    details: [.init("account", .string(String(name.prefix(128)))), .init("failures", .number(String(failures)))]))
            let slowed = account.count + 1 >= limits.slowAfter.account || address.count + 1 >= limits.slowAfter.address
            if slowed { try? await clock.sleep(for: limits.delay) }
            return loginPage(
                visit, error: "That name or password is not right." + (slowed ? " Further attempts are slowed, then refused for a while." : ""),
                status: .unauthorized)
        }
        try await people.clearFailures(key: keys.account)
        // A new session id on sign-in, so an id planted before it is worth nothing after.
        let id = try await sessions.start(person, clientAddress: visit.clientAddress)
        visit.replaceSession(id, person: person, cookie: sessions.signedInCookie(id))
        logger.info("ui.login", metadata: ["person": "\(person.name)"])
        await recordAccess("signin", by: visit, details: [.init("method", .string(person.method)), .init("role", .string(person.role.rawValue))])
        return UIResponses.redirect("/timeline")
    }

    /// The person these credentials name, or nil. Unknown names cost one bcrypt check as known
    /// ones do, so timing does not tell which names exist.
    private func authenticate(name: String, password: String) async throws -> Person? {
        if name == TimelineConfig.bootstrapAdmin,
            [config.adminPassword, config.adminToken].contains(where: { $0.map { secretsMatch(password, $0) } ?? false })
        {
            return Person(name: name, role: .admin, method: "bootstrap")
        }
        let user = Person.isValidName(name) ? try await people.user(name) : nil
        let matches = try await PasswordHash.verify(password, hash: user?.passwordHash)
        // The provider's people sign in through it, never with a password (which an older collector might have set).
        guard matches, let user, !user.fromIdentityProvider else { return nil }
        return Person(user, method: "password")
    }

    func loginPage(_ visit: Visit, error: String?, notice: String? = nil, status: HTTPResponse.Status) -> Response {
        pages.page(
            title: "Sign in", LoginPage(error: error, notice: notice, emailSignIn: config.emailSignIn != nil, openID: config.openID?.label), visit,
            status: status, nav: false)
    }
}

/// bcrypt (cost 12) from hummingbird-auth, on a thread of its own: a check takes a quarter of a
/// second of CPU, which must neither hold a cooperative thread nor, in a flood of sign-ins,
/// take every core from ingest.
enum PasswordHash {
    private static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// bcrypt reads at most 72 bytes; a longer password would be silently cut.
    static let maxBytes = 72

    /// A hash no password matches, checked for unknown names so they take as long as known ones
    /// (made on the hashing thread, the first time one is asked for).
    private static let unknownUser = Bcrypt.hash(TimelineConfig.randomSecret().hexString, cost: 12)

    static func make(_ password: String) async throws -> String {
        try await thread.runIfActive { Bcrypt.hash(password, cost: 12) }
    }

    /// Whether `password` matches `hash`; with no hash (an unknown name), the same work and false.
    static func verify(_ password: String, hash: String?) async throws -> Bool {
        try await thread.runIfActive { Bcrypt.verify(password, hash: hash ?? unknownUser) && hash != nil }
    }
}
