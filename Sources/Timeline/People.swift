import AuditStore
import Foundation
import Pipeline

/// What a person may do in the UI. `admin` does everything; `auditor` reads every workflow and
/// verifies, changing nothing; `viewer` reads the workflows granted; `owner` reads them and
/// manages their tokens and agent keys and decides their gates.
enum Role: String, Sendable, CaseIterable {
    case admin, auditor, viewer, owner
}

/// The person behind a request, as the server decides it on every request.
struct Person: Sendable, Equatable {
    var name: String
    var role: Role
    /// The workflows a viewer or owner is granted (ignored for admins and auditors).
    var workflows: Set<String>
    /// How they signed in: `password`, `bootstrap` (the configured admin password), `token`
    /// (the admin token as a bearer) or `open` (a loopback UI without credentials).
    var method: String

    var readsEveryWorkflow: Bool { role == .admin || role == .auditor }

    func reads(_ workflow: String) -> Bool { readsEveryWorkflow || workflows.contains(workflow) }

    func manages(_ workflow: String) -> Bool { role == .admin || (role == .owner && workflows.contains(workflow)) }

    /// The workflows a query is confined to; nil means every workflow.
    var scope: Set<String>? { readsEveryWorkflow ? nil : workflows }

    /// A stored person; nil when the stored role is not one this collector knows.
    init?(_ user: PeopleTables.User, method: String) {
        guard let role = Role(rawValue: user.role) else { return nil }
        self.init(name: user.name, role: role, workflows: Set(user.workflows), method: method)
    }

    init(name: String, role: Role, workflows: Set<String> = [], method: String) {
        (self.name, self.role, self.workflows, self.method) = (name, role, workflows, method)
    }

    /// Names that are not people: the bootstrap admin, the agent of failed sign-ins, and whoever uses an open UI.
    static let reservedNames: Set<String> = [TimelineConfig.bootstrapAdmin, "anonymous", "local"]

    /// Person names: 1 to 128 letters, digits, `.`, `_`, `-`, `@` or `+` (an e-mail address fits).
    static func isValidName(_ name: String) -> Bool {
        (1...128).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-@+".unicodeScalars.contains($0)) }
    }
}
