public import Config

/// Settings of the `checkpoint_witness` exporter.
public struct CheckpointWitnessConfig: Sendable {
    /// `url` and the shared endpoint keys (`trusted_hosts`, `ca_file`, `resolve`, `timeout`,
    /// `allow_loopback`), as `budget_webhook` reads them.
    public var endpoint = HTTPSEndpoint()
    /// `bearer_token` / `GOVERNANCE_CHECKPOINT_WITNESS_TOKEN`: sent as `Authorization: Bearer`; optional.
    public var bearerToken: String?
    /// `max_backoff`: longest wait between attempts at a failing delivery, seconds. Default 300.
    public var maxBackoff = 300.0
    /// `poll_interval`: seconds between looks for new checkpoints. Default 1.
    public var pollInterval = 1.0

    public static func read(_ section: ConfigSection) throws(ConfigError) -> CheckpointWitnessConfig {
        var c = CheckpointWitnessConfig()
        c.endpoint = try HTTPSEndpoint.read(section, urlKey: "url", purpose: "each signed checkpoint")
        c.bearerToken = try section.string("bearer_token", env: "GOVERNANCE_CHECKPOINT_WITNESS_TOKEN", secret: true).flatMap { $0.isEmpty ? nil : $0 }
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...86_400)
        c.pollInterval = try section.double("poll_interval", default: c.pollInterval, range: 0.01...3_600)
        try section.finish()
        return c
    }
}
