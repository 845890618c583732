import AuditStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Pipeline

/// `/people`, for admins: who may use the UI with which role and workflows, and the live
/// sessions, any of which an admin ends. Every change is an `access.*` audit event.
extension TimelineServer {
    func addPeopleRoutes(to signedIn: RouterGroup<UIRequestContext>) {
        let admins = signedIn.group().add(middleware: RequireRoleMiddleware(roles: [.admin]))
        admins.get("/people") { _, context in try await self.peoplePage(context.visit, notice: nil) }
        admins.post("/people") { request, context in
            let form = try await self.form(PersonForm.self, request, context)
            return try await self.savePerson(form, context.visit)
        }
        admins.post("/people/:name/remove") { request, context in
            _ = try await self.form(PlainForm.self, request, context)
            return try await self.removePerson(context.parameters.get("name") ?? "", context.visit)
        }
        admins.post("/people/sessions/:fingerprint/end") { request, context in
            _ = try await self.form(PlainForm.self, request, context)
            return try await self.endSession(fingerprint: context.parameters.get("fingerprint") ?? "", context.visit)
        }
    }

    private func peoplePage(_ visit: Visit, notice: String?, status: HTTPResponse.Status = .ok) async throws -> Response {
        async let users = people.users()
        let sessions = try await people.liveSessions()
        let page = PeoplePage(
            notice: notice,
            people: try await users.map {
                .init(
                    name: $0.name, role: $0.role, workflows: $0.workflows.joined(separator: ", "),
                    method: $0.fromIdentityProvider ? "identity provider" : $0.passwordHash == nil ? "none yet" : "password")
            },
            roles: Role.allCases.map(\.rawValue),
            sessions: sessions.map {
                .init(
                    fingerprint: $0.fingerprint, person: $0.person, method: $0.method, clientAddress: $0.clientAddress ?? "", createdAt: $0.createdAt,
                    lastSeen: $0.lastSeen)
            })
        return pages.page(title: "People", page, visit, status: status)
    }

    private func savePerson(_ form: PersonForm, _ visit: Visit) async throws -> Response {
        let name = (form.name ?? "").trimmingCharacters(in: .whitespaces)
        guard Person.isValidName(name), !Person.reservedNames.contains(name) else {
            return try await peoplePage(
                visit,
                notice: "name: 1 to 128 letters, digits, '.', '_', '-', '@' or '+', and not `admin` (the bootstrap admin), `anonymous` or `local`.",
                status: .badRequest)
        }
        guard let role = form.role.flatMap(Role.init(rawValue:)) else {
            return try await peoplePage(visit, notice: "role: one of admin, auditor, viewer, owner.", status: .badRequest)
        }
        let workflows = (form.workflows ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let bad = workflows.first(where: { !SystemIdentity.isClientWorkflow($0) }) {
            return try await peoplePage(visit, notice: "workflows: `\(bad)` is not a workflow name.", status: .badRequest)
        }
        if (role == .viewer || role == .owner) && workflows.isEmpty {
            return try await peoplePage(visit, notice: "workflows: a \(role.rawValue) needs at least one workflow.", status: .badRequest)
        }
        let password = form.password ?? ""
        guard password.isEmpty || (12...PasswordHash.maxBytes).contains(password.utf8.count) else {
            return try await peoplePage(visit, notice: "password: 12 to 72 bytes (bcrypt reads no further).", status: .badRequest)
        }
        let hash = password.isEmpty ? nil : try await PasswordHash.make(password)
        guard try await people.save(.init(name: name, role: role.rawValue, workflows: workflows, passwordHash: hash)) else {
            return try await peoplePage(
                visit,
                notice: "\(name) signs in through the identity provider, whose groups set their role at each sign-in: change their groups there.",
                status: .conflict)
        }
        await recordAccess(
            "user_saved", by: visit,
            details: [
                .init("user", .string(name)), .init("role", .string(role.rawValue)), .init("workflows", .array(workflows.map { .string($0) })),
                .init("password_changed", .bool(hash != nil)),
            ])
        return UIResponses.redirect("/people")
    }

    private func removePerson(_ name: String, _ visit: Visit) async throws -> Response {
        let by = visit.person?.name ?? "?"
        guard try await people.remove(name, by: by) else { throw PageError(status: .notFound, message: "There is no such person.") }
        await recordAccess("user_removed", by: visit, details: [.init("user", .string(name))])
        return UIResponses.redirect("/people")
    }

    private func endSession(fingerprint: String, _ visit: Visit) async throws -> Response {
        let by = visit.person?.name ?? "?"
        guard fingerprint.utf8.count == 16, let person = try await people.endSession(fingerprint: fingerprint, by: by) else {
            throw PageError(status: .notFound, message: "There is no such live session.")
        }
        await recordAccess(
            "session_ended", by: visit, details: [.init("ended_session", .string(fingerprint)), .init("session_person", .string(person))])
        return UIResponses.redirect("/people")
    }
}

struct PersonForm: UIForm {
    var csrf: String?
    var name: String?
    var role: String?
    var workflows: String?
    var password: String?
}

struct PeoplePage: PageModel {
    static let template = "people"
    struct Row: Sendable {
        var name: String
        var role: String
        var workflows: String
        var method: String
    }
    struct Session: Sendable {
        var fingerprint: String
        var person: String
        var method: String
        var clientAddress: String
        var createdAt: String
        var lastSeen: String
    }
    var notice: String?
    var people: [Row]
    var roles: [String]
    var sessions: [Session]
}

/// Routes past it are for the roles named; anyone else is refused (a page says why).
struct RequireRoleMiddleware: RouterMiddleware {
    let roles: Set<Role>

    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        guard let role = context.visit.person?.role, roles.contains(role) else {
            throw PageError(status: .forbidden, message: "Your role does not allow this.")
        }
        return try await next(request, context)
    }
}
