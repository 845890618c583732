import AuditStore
import Config
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Pipeline

/// What an API key may do, within its person's role (a key never does more than its person).
enum APIKeyScope: String, Sendable, CaseIterable {
    /// Every page and the live stream.
    case read
    case export
    /// A session's verify action.
    case verify
    /// Issuing and revoking workflow tokens (the person must own the workflow, or be an admin).
    case tokens

    /// What a request needs; nil when no key may make it (signing in or out, people, agent keys,
    /// approvals, keys: those are a person's own acts, in a browser).
    static func needed(by request: Request) -> APIKeyScope? {
        let path = request.uri.path
        switch request.method {
        case .get where path == "/keys" || path.hasPrefix("/people"): return nil
        case .get: return path == "/export" ? .export : .read
        case .post where path.hasPrefix("/sessions/") && path.hasSuffix("/verify"): return .verify
        case .post where path == "/workflows/tokens" || (path.hasPrefix("/tokens/") && path.hasSuffix("/revoke")): return .tokens
        default: return nil
        }
    }
}

/// The key a request came with.
struct UsedAPIKey: Sendable {
    var fingerprint: String
    var scopes: Set<APIKeyScope>
}

/// API keys for scripts: `gck_` and 32 random bytes, shown once, stored as their SHA-256,
/// each with its person, scopes and expiry; used as `Authorization: Bearer`.
enum APIKey {
    static let prefix = "gck_"

    static func random() -> String { prefix + Base64URL.encode(TimelineConfig.randomSecret()) }

    static func sha256(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Data(key.utf8))) }

    /// The name the keys page and access events give a key: enough to tell keys apart.
    static func fingerprint(_ key: String) -> String { String(sha256(key).hexString.prefix(12)) }
}

/// Past it, a request with an API key goes on only if the key's scopes cover it.
struct APIKeyScopeMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        if let key = context.visit.key {
            guard let needed = APIKeyScope.needed(by: request), key.scopes.contains(needed) else {
                let what = APIKeyScope.needed(by: request).map { "the `\($0.rawValue)` scope" } ?? "a person in a browser, not an API key"
                return UIResponses.plain(.forbidden, "\(request.method) \(request.uri.path) needs \(what)")
            }
        }
        return try await next(request, context)
    }
}

/// `/keys`: each person's API keys (an admin sees everyone's): create one (shown once), revoke one.
extension TimelineServer {
    func addKeyRoutes(to signedIn: RouterGroup<UIRequestContext>) {
        signedIn.get("/keys") { _, context in try await self.keysPage(context.visit) }
        signedIn.post("/keys") { request, context in
            let form = try await self.form(KeyForm.self, request, context)
            return try await self.createKey(form, context.visit)
        }
        signedIn.post("/keys/:fingerprint/revoke") { request, context in
            _ = try await self.form(PlainForm.self, request, context)
            let person = try self.keyHolder(context.visit)
            let fingerprint = context.parameters.get("fingerprint") ?? ""
            guard try await self.people.revokeKey(fingerprint: fingerprint, of: person.role == .admin ? nil : person.name) != nil else {
                throw PageError(status: .notFound, message: "You have no such active key.")
            }
            await self.recordAccess("key_revoked", by: context.visit, details: [.init("key", .string(fingerprint))])
            return UIResponses.redirect("/keys")
        }
    }

    /// Keys belong to people: the open UI and the admin token have none.
    private func keyHolder(_ visit: Visit) throws -> Person {
        guard let person = visit.person, person.method == "password" || person.method == "bootstrap" else {
            throw PageError(status: .forbidden, message: "API keys belong to a person signed in with a password.")
        }
        return person
    }

    private func keysPage(_ visit: Visit, created: KeysPage.Created? = nil, notice: String? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let person = try keyHolder(visit)
        let keys = try await people.keys(of: person.role == .admin ? nil : person.name)
        let page = KeysPage(
            created: created, notice: notice, scopes: APIKeyScope.allCases.map(\.rawValue),
            keys: keys.map {
                .init(
                    fingerprint: $0.fingerprint, person: $0.person, name: $0.name, scopes: $0.scopes.joined(separator: ", "), created: $0.createdAt,
                    expires: $0.expiresAt, lastUsed: $0.lastUsedAt ?? "never", state: $0.state, active: $0.state == "active")
            })
        return pages.page(title: "API keys", page, visit, status: status)
    }

    private func createKey(_ form: KeyForm, _ visit: Visit) async throws -> Response {
        let person = try keyHolder(visit)
        let name = (form.name ?? "").trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.utf8.count) else {
            return try await keysPage(visit, notice: "name: say what the key is for (1 to 100 bytes).", status: .badRequest)
        }
        let scopes = (form.scopes ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !scopes.isEmpty, scopes.allSatisfy({ APIKeyScope(rawValue: $0) != nil }) else {
            return try await keysPage(visit, notice: "scopes: one or more of read, export, verify, tokens.", status: .badRequest)
        }
        guard let days = Int(form.days ?? ""), (1...365).contains(days) else {
            return try await keysPage(visit, notice: "days: how long the key lasts, 1 to 365.", status: .badRequest)
        }
        let key = APIKey.random(), fingerprint = APIKey.fingerprint(key)
        try await people.addKey(
            fingerprint: fingerprint, keySHA256: APIKey.sha256(key), person: person.name, method: person.method, name: name,
            scopes: Array(Set(scopes)).sorted(), days: days)
        await recordAccess(
            "key_created", by: visit,
            details: [.init("key", .string(fingerprint)), .init("scopes", .array(scopes.map { .string($0) })), .init("days", .number(String(days)))])
        return try await keysPage(visit, created: .init(key: key, fingerprint: fingerprint))
    }
}

struct KeyForm: UIForm {
    var csrf: String?
    var name: String?
    /// Comma-separated: `read, export`.
    var scopes: String?
    var days: String?
}

struct KeysPage: PageModel {
    static let template = "keys"
    struct Created: Sendable {
        var key: String
        var fingerprint: String
    }
    struct Key: Sendable {
        var fingerprint: String
        var person: String
        var name: String
        var scopes: String
        var created: String
        var expires: String
        var lastUsed: String
        var state: String
        var active: Bool
    }
    var created: Created?
    var notice: String?
    var scopes: [String]
    var keys: [Key]
}
