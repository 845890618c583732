import AuditStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Pipeline

/// Sign-in through the OpenID Connect provider (`ui.oidc`): the authorization code flow with
/// PKCE, `state` and `nonce`. The login under way is kept in PostgreSQL, so the provider's
/// answer may reach any collector on the database, and bound to the browser that began it by a
/// cookie of its own (`SameSite=Lax`, the one kind a browser sends on the provider's redirect
/// back), so a code injected into another browser signs nobody in.
extension TimelineServer {
    /// Seconds a login may take at the provider.
    static let openIDLoginSeconds = 600

    func addOpenIDRoutes(to router: RouterGroup<UIRequestContext>) {
        guard let provider = openID else { return }
        router.get("/login/oidc") { _, context in try await self.beginOpenID(provider, context.visit) }
        router.get("/login/oidc/callback") { request, context in try await self.finishOpenID(provider, request, context.visit) }
    }

    private func beginOpenID(_ provider: OpenIDProvider, _ visit: Visit) async throws -> Response {
        let (state, nonce, verifier, binding) = (SessionID.random(), SessionID.random(), SessionID.random(), SessionID.random())
        let location: String
        do {
            let challenge = Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
            location = try await provider.authorizationURL(state: state, nonce: nonce, codeChallenge: challenge)
        } catch {
            logger.error("ui.oidc_unavailable", metadata: ["error": "\(error)"])
            return loginPage(visit, error: "The identity provider cannot be used now (\(error)). Try again shortly.", status: .badGateway)
        }
        try await people.addOpenIDLogin(
            stateSHA256: SessionID.sha256(state), browserSHA256: SessionID.sha256(binding), nonce: nonce, codeVerifier: verifier,
            seconds: Self.openIDLoginSeconds)
        var response = UIResponses.redirect(location)
        response.headers.append(HTTPField(name: .setCookie, value: bindingCookie(binding, maxAge: Self.openIDLoginSeconds, provider)))
        return response
    }

    private func finishOpenID(_ provider: OpenIDProvider, _ request: Request, _ visit: Visit) async throws -> Response {
        let fields = try request.queryFields()
        let config = provider.config
        func refuse(_ reason: String, account: String? = nil, _ message: String, _ status: HTTPResponse.Status) async -> Response {
            logger.warning("ui.oidc_signin_failed", metadata: ["reason": "\(reason)", "client_address": "\(visit.clientAddress ?? "?")"])
            var details: [JSONValue.Member] = [.init("method", .string("oidc")), .init("reason", .string(reason))]
            if let account { details.append(.init("account", .string(account))) }
            await recordAccess(
                AccessEvent.make("signin_failed", person: "anonymous", session: nil, clientAddress: visit.clientAddress, details: details))
            var response = loginPage(visit, error: message, status: status)
            response.headers.append(HTTPField(name: .setCookie, value: bindingCookie("", maxAge: 0, provider)))
            return response
        }
        let binding = request.cookies[openIDCookie(provider)]?.value ?? ""
        guard let state = fields["state"], SessionID.isWellFormed(binding),
            let login = try await people.takeOpenIDLogin(stateSHA256: SessionID.sha256(state), browserSHA256: SessionID.sha256(binding))
        else {
            return await refuse(
                "no login under way for this state in this browser",
                "This sign-in expired, was used already, or began in another browser. Start again.", .badRequest)
        }
        // RFC 6749 §4.1.2.1: an error code, shown only once the answer is known to be this login's.
        if let error = fields["error"] {
            let code = error.count <= 64 && error.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "_") } ? error : "an unreadable error"
            return await refuse("the provider answered \(code)", "The identity provider did not sign you in (\(code)).", .unauthorized)
        }
        guard let code = fields["code"] else {
            return await refuse("the provider's answer has no code", "The identity provider's answer has no code. Start again.", .badRequest)
        }
        let token: IDToken
        do {
            token = try await provider.signIn(code: code, codeVerifier: login.codeVerifier, nonce: login.nonce)
        } catch {
            return await refuse(error.description, "The identity provider's answer was refused: \(error). Nobody was signed in.", .unauthorized)
        }
        guard let name = token.string(config.nameClaim), Person.isValidName(name) else {
            return await refuse(
                "the ID token's \(config.nameClaim) claim is missing or not a usable name",
                "The identity provider did not say who you are (its `\(config.nameClaim)` claim). Ask an admin.", .forbidden)
        }
        // An address is a name only if the provider checked that it is theirs.
        if config.nameClaim == "email", token.claims["email_verified"] != .bool(true), token.claims["email_verified"] != .string("true") {
            return await refuse(
                "the e-mail address is not verified", account: name, "Your e-mail address is not verified at the identity provider.", .forbidden)
        }
        guard !Person.reservedNames.contains(name) else {
            return await refuse("a reserved name", account: name, "\(name) is a name this collector keeps for itself. Ask an admin.", .forbidden)
        }
        // The provider's account, which the name stays bound to from its first sign-in on.
        let subject = "\(token.string("iss") ?? "") \(token.string("sub") ?? "")"
        let groups = token.strings(config.groupsClaim)
        guard let person = config.person(name: name, groups: groups) else {
            // Out of every mapped group: the role they had here goes, and their sessions end.
            if try await people.remove(name, subject: subject, by: "identity-provider") {
                await recordAccess(
                    AccessEvent.make(
                        "user_removed", person: "identity-provider", session: nil, clientAddress: visit.clientAddress,
                        details: [.init("user", .string(name))]))
            }
            return await refuse(
                "no group grants a role", account: name,
                "Your account (\(name)) is in no group this collector grants a role to. Ask an admin to map one of your groups.", .forbidden)
        }
        let stored = PeopleTables.User(
            name: name, role: person.role.rawValue, workflows: person.workflows.sorted(), passwordHash: nil, subject: subject)
        guard try await people.save(stored) else {
            return await refuse(
                "the name belongs to someone else here", account: name,
                "\(name) is already someone else here: a person of this collector, or another account of the identity provider. Ask an admin.",
                .forbidden)
        }
        let id = try await sessions.start(person, clientAddress: visit.clientAddress)
        visit.replaceSession(id, person: person, cookie: sessions.signedInCookie(id))
        logger.info("ui.login", metadata: ["person": "\(person.name)"])
        await recordAccess(
            "signin", by: visit,
            details: [
                .init("method", .string("oidc")), .init("role", .string(person.role.rawValue)),
                .init("groups", .array(groups.map { .string($0) })),
            ])
        // The session cookie is SameSite=Strict, which a browser withholds on a redirect in a
        // chain the provider began: this page moves on by itself, a navigation of this site's own.
        var response = pages.page(title: "Signed in", SignedInPage(name: name), visit, nav: false, refresh: "/timeline")
        response.headers.append(HTTPField(name: .setCookie, value: bindingCookie("", maxAge: 0, provider)))
        return response
    }

    /// The cookie binding a login to its browser, sent back on the provider's redirect (Lax).
    /// Over https it is `__Host-` (Secure, this host only, path `/`), so a sibling subdomain
    /// cannot plant one; plain http (a loopback trial) allows no such prefix.
    private func bindingCookie(_ value: String, maxAge: Int, _ provider: OpenIDProvider) -> String {
        let attributes = provider.config.publicURL.hasPrefix("https://") ? "Path=/; Secure" : "Path=/login/oidc"
        return "\(openIDCookie(provider))=\(value); \(attributes); HttpOnly; SameSite=Lax; Max-Age=\(maxAge)"
    }

    private func openIDCookie(_ provider: OpenIDProvider) -> String {
        provider.config.publicURL.hasPrefix("https://") ? "__Host-gc_oidc" : "gc_oidc"
    }
}
