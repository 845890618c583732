import Foundation
package import Config

/// `ui.oidc`: sign-in through the company's OpenID Connect provider (authorization code with
/// PKCE). The provider vouches for who someone is; the groups it names set what they may do
/// here, at each sign-in.
package struct OpenIDSignIn: Sendable {
    /// `issuer`: the provider's issuer URL, exactly as its discovery document and ID tokens say it.
    package var issuer: String
    /// `client_id` and `client_secret` (env `GOVERNANCE_UI_OIDC_CLIENT_SECRET`): this collector's registration.
    package var clientID: String
    package var clientSecret: String
    /// `public_url`: where people reach this UI; the redirect URI is `<public_url>/login/oidc/callback`.
    package var publicURL: String
    /// `scopes`: asked for at sign-in. Default `openid email profile`.
    package var scopes = ["openid", "email", "profile"]
    /// `name_claim`: the ID token claim that names the person here. Default `email`.
    package var nameClaim = "email"
    /// `groups_claim`: the ID token claim listing the person's groups. Default `groups`.
    package var groupsClaim = "groups"
    /// `label`: the sign-in button's text. Default "Sign in with single sign-on".
    package var label = "Sign in with single sign-on"
    /// `ca_file`: the PEM file the provider's certificate is checked against (default: the system's).
    package var caFile: String?
    /// `groups`: what each of the provider's groups grants here.
    package var grants: [GroupGrant] = []

    var redirectURI: String { publicURL + "/login/oidc/callback" }

    /// OpenID Connect Discovery §4: the issuer, without a trailing `/`, and the well-known path.
    package var discoveryURL: String {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/.well-known/openid-configuration"
    }

    /// One `groups` entry: members of `group` get `role`, on `workflows` for viewers and owners.
    package struct GroupGrant: Sendable, Equatable {
        package var group: String
        var role: Role
        package var workflows: [String]
    }

    /// The person a provider's account becomes, or nil when none of its groups grants a role. A
    /// person has one role: the strongest granted wins (admin, auditor, owner, viewer), with the
    /// workflows of the grants of that role only, so that a viewer's grant never becomes an owner's.
    func person(name: String, groups: [String]) -> Person? {
        let granted = grants.filter { groups.contains($0.group) }
        guard let role = Self.strength.first(where: { role in granted.contains { $0.role == role } }) else { return nil }
        let workflows = Set(granted.filter { $0.role == role }.flatMap(\.workflows))
        return Person(name: name, role: role, workflows: workflows, method: "oidc")
    }

    static let strength: [Role] = [.admin, .auditor, .owner, .viewer]

    static func read(_ section: ConfigSection) throws(ConfigError) -> OpenIDSignIn {
        // Compared with the discovery document's and the tokens' exactly, as written (a trailing `/` included).
        let issuer = try section.requiredString("issuer", fix: "give the provider's issuer URL, e.g. https://login.example.com/realms/acme")
        guard issuer.hasPrefix("https://") else {
            throw section.error("issuer", "is `\(issuer)`: the provider must be reached over https", fix: "write the issuer's https:// URL")
        }
        let clientID = try section.requiredString("client_id", fix: "give the client id this collector is registered with at the provider")
        let secret = try section.requiredString(
            "client_secret", env: "GOVERNANCE_UI_OIDC_CLIENT_SECRET", secret: true,
            fix: "set it from the environment: `client_secret: ${env:GOVERNANCE_UI_OIDC_CLIENT_SECRET}`")
        let publicURL = try readPublicURL(section)
        var config = OpenIDSignIn(issuer: issuer, clientID: clientID, clientSecret: secret, publicURL: publicURL)
        if let scopes = try section.stringList("scopes") {
            guard scopes.contains("openid") else { throw section.error("scopes", "lacks `openid`", fix: "add openid, e.g. [openid, email, profile]") }
            config.scopes = scopes
        }
        config.nameClaim = try section.string("name_claim", default: config.nameClaim)!
        config.groupsClaim = try section.string("groups_claim", default: config.groupsClaim)!
        config.label = try section.string("label", default: config.label)!
        config.caFile = try section.string("ca_file")
        for entry in try section.sections("groups") {
            let group = try entry.requiredString("group", fix: "name the provider's group, as its groups claim lists it")
            let roleName = try entry.requiredString("role", fix: "give one of admin, auditor, viewer, owner")
            guard let role = Role(rawValue: roleName) else {
                throw entry.error("role", "is `\(roleName)`", fix: "give one of admin, auditor, viewer, owner")
            }
            let workflows = try entry.stringList("workflows") ?? []
            if (role == .viewer || role == .owner) && workflows.isEmpty {
                throw entry.error(
                    "workflows", "is missing: a \(roleName) reads only the workflows granted", fix: "list them, e.g. [payments, refunds]")
            }
            if (role == .admin || role == .auditor) && !workflows.isEmpty {
                throw entry.error(
                    "workflows", "is given, but an \(roleName) reads every workflow", fix: "remove workflows, or make the role viewer or owner")
            }
            config.grants.append(GroupGrant(group: group, role: role, workflows: workflows))
            try entry.finish()
        }
        guard !config.grants.isEmpty else {
            throw section.error(
                "groups", "is missing: nobody signing in through the provider would get a role",
                fix: "map at least one of its groups, e.g. groups: [{group: governance-admins, role: admin}]")
        }
        try section.finish()
        return config
    }
}
