import Crypto
import Foundation
public import Listeners

/// Settings of the timeline web UI (the `ui:` section; read and checked by the collector's plan).
public struct TimelineConfig: Sendable {
    /// `endpoint` (env `GOVERNANCE_UI_ENDPOINT`), default 127.0.0.1:8890: loopback unless chosen.
    public var host = "127.0.0.1"
    public var port = 8890
    /// `pipeline`: whose PostgreSQL the UI reads and whose managed tokens it issues. Default:
    /// the only pipeline (required when there are several).
    public var pipeline = ""
    /// `admin_password` (env `GOVERNANCE_UI_ADMIN_PASSWORD`) and `admin_token`
    /// (env `GOVERNANCE_UI_ADMIN_TOKEN`, also accepted as `Authorization: Bearer` for scripts).
    /// With neither, the UI is open, which start-up allows only on a loopback address.
    public var adminPassword: String?
    public var adminToken: String?
    /// `session_secret` (env `GOVERNANCE_UI_SESSION_SECRET`) signs session cookies. Default: random
    /// per start (sessions end on restart); set it when several collectors serve one UI address.
    public var sessionSecret: [UInt8] = Self.randomSecret()
    /// `session_ttl`, seconds. Default 12 hours.
    public var sessionTTL: Double = 12 * 3600
    /// `page_size`: events per timeline page. Default 100.
    public var pageSize = 100
    /// The audit secret the per-session verify action checks HMACs with: the pipeline's chain
    /// processor's, else `GOVERNANCE_AUDIT_SECRET`; nil turns verify into an explanation.
    public var auditSecret: String?
    /// `read_header_timeout`, … `max_connections` (default 256): see `ListenerLimits`.
    public var limits = ListenerLimits(maxConnections: 256)

    public init() {}

    public var requiresLogin: Bool { adminPassword != nil || adminToken != nil }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public static func randomSecret() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}
