public import Config
import Foundation

/// Settings of the `budget_webhook` exporter, named as the SDK's `BudgetPolicy` names them.
public struct BudgetWebhookConfig: Sendable {
    /// `alert_webhook_url` / `GOVERNANCE_BUDGET_WEBHOOK_URL` and the shared endpoint keys
    /// (`trusted_hosts`, `ca_file`, `resolve`, `timeout` (default 5 s, as the SDK), `allow_loopback`).
    public var endpoint = HTTPSEndpoint()
    /// `alert_webhook_secret` / `GOVERNANCE_BUDGET_WEBHOOK_SECRET`: the HMAC key of
    /// `X-Governance-Signature`. Required: an alert is never sent unsigned.
    public var secret = ""
    /// `max_backoff`: longest wait between attempts at a failing delivery, seconds. Default 300.
    public var maxBackoff = 300.0
    /// `poll_interval`: seconds between looks for new alerts. Default 1.
    public var pollInterval = 1.0

    public static func read(_ section: ConfigSection) throws(ConfigError) -> BudgetWebhookConfig {
        var c = BudgetWebhookConfig()
        c.endpoint = try HTTPSEndpoint.read(section, urlKey: "alert_webhook_url", env: "GOVERNANCE_BUDGET_WEBHOOK_URL", purpose: "budget alerts")
        c.secret = try section.requiredString(
            "alert_webhook_secret", env: "GOVERNANCE_BUDGET_WEBHOOK_SECRET", secret: true,
            fix: "set the shared secret the receiver verifies X-Governance-Signature with; alerts are never sent unsigned")
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...86_400)
        c.pollInterval = try section.double("poll_interval", default: c.pollInterval, range: 0.01...3_600)
        try section.finish()
        return c
    }
}
