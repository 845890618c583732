import Crypto
import Foundation
package import Config
package import Listeners

/// Settings of the timeline web UI (the `ui:` section; read and checked by the collector's plan).
package struct TimelineConfig: Sendable {
    /// `endpoint` (env `GOVERNANCE_UI_ENDPOINT`), default 127.0.0.1:8890: loopback unless chosen.
    package var host = "127.0.0.1"
    package var port = 8890
    /// `pipeline`: whose PostgreSQL the UI reads and whose managed tokens it issues. Default:
    /// the only pipeline (required when there are several).
    package var pipeline = ""
    /// `admin_password` (env `GOVERNANCE_UI_ADMIN_PASSWORD`) signs in the bootstrap admin (name
    /// `admin`), who adds the other people; `admin_token` (env `GOVERNANCE_UI_ADMIN_TOKEN`) is
    /// accepted as that password and as `Authorization: Bearer` for scripts. With neither, the UI
    /// is open (everyone is an admin), which start-up allows only on a loopback address.
    package var adminPassword: String?
    package var adminToken: String?
    /// `session_secret` was read by collectors whose sessions lived in signed cookies; sessions
    /// now live in PostgreSQL, so it is accepted, ignored, and named in a warning at start.
    package var ignoresSessionSecret = false
    /// `session_ttl`, seconds: a sign-in's absolute lifetime. Default 12 hours.
    package var sessionTTL: Double = 12 * 3600
    /// `session_idle`, seconds: a session unused this long has ended. Default 1 hour.
    package var sessionIdle: Double = 3600
    /// `page_size`: events per timeline page. Default 100.
    package var pageSize = 100
    /// The audit secret the per-session verify action checks HMACs with: the pipeline's chain
    /// processor's, else `GOVERNANCE_AUDIT_SECRET`; nil turns verify into an explanation.
    package var auditSecret: String?
    /// `email_sign_in`: sign-in links by e-mail, as the hosted platform sends them; nil when off.
    package var emailSignIn: EmailSignIn?
    /// `oidc`: sign-in through an OpenID Connect provider; nil when off.
    package var openID: OpenIDSignIn?
    /// `read_dsn` (env `GOVERNANCE_UI_READ_DSN`): a hot standby (or a multi-host DSN with
    /// `target_session_attrs=prefer-standby`) that serves the pages' and the API's reads of
    /// events; the primary serves them whenever it does not answer. Nil: the primary only.
    package var readDSN: String?
    /// `api_rate`, reads a second, and `api_burst`, reads at once, per API key (or person) of
    /// the read API; past them `429` with `Retry-After`. Defaults 20 and 100.
    package var apiRate = 20.0
    package var apiBurst = 100
    /// `read_header_timeout`, … `max_connections` (default 256): see `ListenerLimits`.
    package var limits = ListenerLimits(maxConnections: 256)

    package init() {}

    package var requiresLogin: Bool { adminPassword != nil || adminToken != nil }

    /// The name the admin password signs in as.
    static let bootstrapAdmin = "admin"

    package static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    package static func randomSecret() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}

extension TimelineConfig {
    /// Reads the `ui:` section; nil when it says `enabled: false`.
    package static func read(_ ui: ConfigSection, pipelines: [String]) throws(ConfigError) -> TimelineConfig? {
        guard try ui.bool("enabled", default: true) else {
            try ui.finish()
            return nil
        }
        var c = TimelineConfig()
        let endpoint = try ui.string("endpoint", env: "GOVERNANCE_UI_ENDPOINT", default: "\(c.host):\(c.port)")!
        guard let (host, port) = ListenerEndpoint.parse(endpoint) else {
            throw ui.error("endpoint", "is `\(endpoint)`", fix: "write host:port, e.g. 127.0.0.1:8890 or [::1]:8890 (port 0 picks a free one)")
        }
        (c.host, c.port) = (host, port)
        c.adminPassword = try ui.string("admin_password", env: "GOVERNANCE_UI_ADMIN_PASSWORD", secret: true).flatMap { $0.isEmpty ? nil : $0 }
        if let password = c.adminPassword, password.count < 12 {
            throw ui.error("admin_password", "is shorter than 12 characters", fix: "use a longer passphrase, e.g. from `openssl rand -base64 18`")
        }
        c.adminToken = try ui.string("admin_token", env: "GOVERNANCE_UI_ADMIN_TOKEN", secret: true).flatMap { $0.isEmpty ? nil : $0 }
        if let token = c.adminToken, token.count < 24 {
            throw ui.error("admin_token", "is shorter than 24 characters", fix: "generate one with `openssl rand -hex 24`")
        }
        if !c.requiresLogin && !TimelineConfig.isLoopback(host) {
            throw ui.error(
                "admin_password",
                "is not set while the UI listens on `\(endpoint)`, a non-loopback address: anyone on the network could manage tokens",
                fix: "set admin_password (or admin_token), e.g. `admin_password: ${env:GOVERNANCE_UI_ADMIN_PASSWORD}`, or listen on 127.0.0.1")
        }
        c.ignoresSessionSecret = try ui.string("session_secret", env: "GOVERNANCE_UI_SESSION_SECRET", secret: true) != nil
        c.sessionTTL = try ui.double("session_ttl", default: c.sessionTTL, range: 60...(30 * 86400))
        c.sessionIdle = try ui.double("session_idle", default: c.sessionIdle, range: 60...(30 * 86400))
        c.pageSize = try ui.int("page_size", default: c.pageSize, range: 10...1000)
        c.readDSN = try ui.string("read_dsn", env: "GOVERNANCE_UI_READ_DSN", secret: true)
        c.apiRate = try ui.double("api_rate", default: c.apiRate, range: 0.001...100_000)
        c.apiBurst = try ui.int("api_burst", default: c.apiBurst, range: 1...100_000)
        c.emailSignIn = try signIn("email_sign_in", in: ui, requiresLogin: c.requiresLogin, EmailSignIn.read)
        c.openID = try signIn("oidc", in: ui, requiresLogin: c.requiresLogin, OpenIDSignIn.read)
        c.limits = try ListenerLimits.read(ui, defaults: c.limits)
        c.pipeline = try ui.pipeline(among: pipelines, whose: "events the UI shows")
        try ui.finish()
        return c
    }
}

extension TimelineConfig {
    /// Mail and the OpenID Connect provider are reached by libcurl, which a build without the
    /// PlatformBridge trait does not link.
    #if PlatformBridge
        static let hasLibcurl = true
    #else
        static let hasLibcurl = false
    #endif

    /// An optional way of signing in (`email_sign_in`, `oidc`): it needs libcurl, and people,
    /// who need a bootstrap admin.
    private static func signIn<Method>(
        _ name: String, in ui: ConfigSection, requiresLogin: Bool, _ read: (ConfigSection) throws(ConfigError) -> Method
    ) throws(ConfigError) -> Method? {
        guard ui.raw(name) != nil else { return nil }
        guard hasLibcurl else {
            throw ui.error(
                name, "needs libcurl, and this collector was built without the PlatformBridge trait",
                fix: "use a default build (swift build), or remove \(name)")
        }
        let method = try read(try ui.section(name))
        guard requiresLogin else { throw ui.error(name, "needs people, who need a bootstrap admin", fix: "set admin_password too") }
        return method
    }
}

/// `public_url` of a sign-in method: where people reach this UI, with its scheme and without a trailing `/`.
func readPublicURL(_ section: ConfigSection) throws(ConfigError) -> String {
    var url = try section.requiredString("public_url", fix: "give the address people open the UI at, e.g. https://governance.example.com")
    while url.hasSuffix("/") { url.removeLast() }
    guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
        throw section.error("public_url", "is `\(url)`", fix: "write the UI's address with its scheme, e.g. https://governance.example.com")
    }
    return url
}

/// `ui.email_sign_in`: single-use links, short-lived and bound to the browser that asked, sent
/// to people whose name is their e-mail address.
package struct EmailSignIn: Sendable {
    /// `smtp_url`: `smtp://host:port` (STARTTLS when the server offers it) or `smtps://host:port`.
    package var smtpURL: String
    /// `from`: the sender's address.
    package var from: String
    /// `public_url`: where people reach this UI (`https://governance.example.com`): the links start with it.
    package var publicURL: String
    /// `link_ttl`, seconds: how long a link works. Default 10 minutes.
    package var linkTTL: Double = 600
    /// `ca_file`: the PEM file the SMTP server's certificate is checked against (default: the system's).
    package var caFile: String?

    static func read(_ section: ConfigSection) throws(ConfigError) -> EmailSignIn {
        let url = try section.requiredString("smtp_url", fix: "write the mail server as smtp://host:587 (STARTTLS) or smtps://host:465")
        guard url.hasPrefix("smtp://") || url.hasPrefix("smtps://") else {
            throw section.error("smtp_url", "is `\(url)`", fix: "write smtp://host:port or smtps://host:port")
        }
        let from = try section.requiredString("from", fix: "give the sender's address, e.g. governance@example.com")
        guard from.contains("@"), !from.contains(where: { $0 == "<" || $0 == ">" || $0.isWhitespace }) else {
            throw section.error("from", "is `\(from)`, not an address", fix: "give the sender's address, e.g. governance@example.com")
        }
        let publicURL = try readPublicURL(section)
        var config = EmailSignIn(smtpURL: url, from: from, publicURL: publicURL)
        config.linkTTL = try section.double("link_ttl", default: config.linkTTL, range: 60...3600)
        config.caFile = try section.string("ca_file")
        try section.finish()
        return config
    }
}
