public import Config
import Foundation

/// Settings of the `budget_webhook` exporter, named as the SDK's `BudgetPolicy` names them.
public struct BudgetWebhookConfig: Sendable {
    /// `alert_webhook_url` / `GOVERNANCE_BUDGET_WEBHOOK_URL`: https (plain http only for
    /// localhost, 127.0.0.1 and [::1]); the platform bridge's SSRF policy applies.
    public var url = ""
    /// `alert_webhook_secret` / `GOVERNANCE_BUDGET_WEBHOOK_SECRET`: the HMAC key of
    /// `X-Governance-Signature`. Required: an alert is never sent unsigned.
    public var secret = ""
    /// `trusted_hosts`: if set, the only hosts the URL may name.
    public var trustedHosts: Set<String>?
    /// `ca_file`: PEM bundle for a private CA (verification stays on).
    public var caFile: String?
    /// `resolve`: `host:port:address` pins, like curl's `--resolve`; the SSRF guard still applies.
    public var resolve: [String] = []
    /// `timeout`: seconds for one delivery attempt. Default 5, as the SDK.
    public var timeout = 5.0
    /// `max_backoff`: longest wait between attempts at a failing delivery, seconds. Default 300.
    public var maxBackoff = 300.0
    /// `poll_interval`: seconds between looks for new alerts. Default 1.
    public var pollInterval = 1.0
    /// `allow_loopback` (default false): permit `localhost`, `127.0.0.1` or `[::1]` (over http too).
    public var allowLoopback = false

    public static func read(_ section: ConfigSection) throws(ConfigError) -> BudgetWebhookConfig {
        var c = BudgetWebhookConfig()
        c.url = try section.requiredString("alert_webhook_url", env: "GOVERNANCE_BUDGET_WEBHOOK_URL",
                                           fix: "set the https URL that receives budget alerts")
        c.secret = try section.requiredString("alert_webhook_secret", env: "GOVERNANCE_BUDGET_WEBHOOK_SECRET", secret: true,
                                              fix: "set the shared secret the receiver verifies X-Governance-Signature with; alerts are never sent unsigned")
        if let hosts = try section.stringList("trusted_hosts") {
            c.trustedHosts = Set(hosts.map { EgressPolicy.canonicalText(EgressPolicy.normalizeHost($0)) })
        }
        c.caFile = try section.string("ca_file")
        c.resolve = try section.stringList("resolve") ?? []
        for entry in c.resolve where entry.split(separator: ":", omittingEmptySubsequences: false).count < 3 {
            throw section.error("resolve", "contains `\(entry)`", fix: "write host:port:address, e.g. hooks.example.com:443:203.0.113.7")
        }
        c.timeout = try section.double("timeout", default: c.timeout, range: 0.05...300)
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...86_400)
        c.pollInterval = try section.double("poll_interval", default: c.pollInterval, range: 0.01...3_600)
        c.allowLoopback = try section.bool("allow_loopback", default: false)
        try section.finish()
        if case .failure(let refusal) = EgressPolicy.check(url: c.url, trustedHosts: c.trustedHosts, allowLoopback: c.allowLoopback) {
            throw section.error("alert_webhook_url", "is refused: \(refusal.reason)",
                                fix: "use a public https URL; for a local receiver set allow_loopback: true; check trusted_hosts")
        }
        if let caFile = c.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw section.error("ca_file", "names `\(caFile)`, which cannot be read", fix: "give the path of a PEM CA bundle")
        }
        return c
    }
}
