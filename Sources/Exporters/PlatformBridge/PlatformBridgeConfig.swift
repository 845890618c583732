public import Config
import Foundation

/// Settings of the `platform_bridge` exporter. The first four keys are the seed's kwargs, with
/// the seed's environment variables; a key set in the file wins, the environment fills what is
/// unset. The bridge activates only when the flag, the URL and the token are all set.
public struct PlatformBridgeConfig: Sendable {
    /// `platform_bridge_enabled` / `GOVERNANCE_PLATFORM_BRIDGE_ENABLED`, default false.
    public var enabled = false
    /// `platform_ingest_url` / `GOVERNANCE_PLATFORM_INGEST_URL`: https, or http for localhost only.
    public var ingestURL: String?
    /// `platform_ingest_token` / `GOVERNANCE_PLATFORM_INGEST_TOKEN`: the workflow's `wf_` token.
    public var ingestToken: String?
    /// `platform_trusted_hosts` / `GOVERNANCE_PLATFORM_TRUSTED_HOSTS`: exact allowlist of hosts
    /// (after normalization) on top of the SSRF guard; nil allows any public host.
    public var trustedHosts: Set<String>?
    /// `max_queue_size` / `GOVERNANCE_PLATFORM_MAX_QUEUE_SIZE`, default 1000: events waiting in
    /// memory; when full the oldest is dropped and counted (`dropped_queue_full`).
    public var maxQueueSize = 1000
    /// `durable` / `GOVERNANCE_PLATFORM_BRIDGE_DURABLE`, default false: follow the audit table from
    /// a cursor kept in PostgreSQL instead of the memory queue, so a crash loses nothing.
    public var durable = false
    /// `ca_file` / `GOVERNANCE_PLATFORM_CA_FILE`: PEM bundle for a private CA (verification stays on).
    public var caFile: String?
    /// `request_timeout` (seconds, default 10) and `connect_timeout` (default 5) per attempt.
    public var requestTimeout = 10.0
    public var connectTimeout = 5.0
    /// `retry_budget` (seconds, default 15): how long one event is retried on 5xx, 429 and
    /// connection errors before it is dropped (`dropped_5xx`). Durable mode retries without limit.
    public var retryBudget = 15.0
    /// `max_backoff` (seconds, default 8): backoff doubles from 1 s up to this.
    public var maxBackoff = 8.0
    /// `shutdown_timeout` (seconds, default 5): how long shutdown keeps delivering what is queued.
    public var shutdownTimeout = 5.0
    /// `redact` (default true): replace secret-shaped strings in outgoing metadata and model.
    public var redact = true
    /// `resolve`: `host:port:address` pins, like curl's `--resolve`; the SSRF guard still applies.
    public var resolve: [String] = []
    /// `allow_loopback` (default false): permit `localhost`, `127.0.0.1` or `[::1]` (over http
    /// too), for local development and tests. Without it loopback is refused like any private address.
    public var allowLoopback = false
    /// `relay_batch_events` (default 0: one event per request, the seed's protocol): when the
    /// target is another governance-collector, up to this many events per request to its batch
    /// endpoint (`platform_ingest_url` + `/batch`), which lifts the one-request-in-flight cap of
    /// about 1/RTT events per second.
    public var relayBatchEvents = 0

    public init() {}

    /// The relay's batch endpoint: the ingest URL's `…/ingest/events` path plus `/batch`.
    public var relayBatchURL: String? {
        guard relayBatchEvents > 0, let url = ingestURL?.split(separator: "?", maxSplits: 1).first, url.hasSuffix("/ingest/events") else {
            return nil
        }
        return url + "/batch"
    }

    /// What start-up should do and say.
    public enum Activation: Equatable, Sendable {
        /// Nothing configured: silent.
        case off
        /// Some credentials without the rest: one INFO line with `reason`.
        case offWithCredentials(reason: String)
        case active(ParsedURL)
    }

    public var activation: Activation {
        let hasURL = !(ingestURL ?? "").isEmpty, hasToken = !(ingestToken ?? "").isEmpty
        if enabled, hasURL, hasToken, let url = ingestURL, case .success(let parsed) = DestinationPolicy.parseURL(url) { return .active(parsed) }
        if !hasURL && !hasToken && !enabled { return .off }
        var missing: [String] = []
        if !enabled { missing.append("platform_bridge_enabled is not true") }
        if !hasURL { missing.append("platform_ingest_url is not set") }
        if !hasToken { missing.append("platform_ingest_token is not set") }
        return .offWithCredentials(reason: missing.joined(separator: ", "))
    }

    /// A stable name for this delivery target (URL and token fingerprint), the key of its state row.
    public var target: String {
        "\(ingestURL ?? "") \(ConfigSection.fingerprint(ingestToken ?? ""))"
    }

    public static func read(_ section: ConfigSection) throws(ConfigError) -> PlatformBridgeConfig {
        var c = PlatformBridgeConfig()
        c.enabled = try section.bool("platform_bridge_enabled", env: "GOVERNANCE_PLATFORM_BRIDGE_ENABLED", default: false)
        c.ingestURL = try section.string("platform_ingest_url", env: "GOVERNANCE_PLATFORM_INGEST_URL")
        c.ingestToken = try section.string("platform_ingest_token", env: "GOVERNANCE_PLATFORM_INGEST_TOKEN", secret: true)
        if let hosts = try section.stringList("platform_trusted_hosts", env: "GOVERNANCE_PLATFORM_TRUSTED_HOSTS") {
            var normalized = Set<String>()
            for host in hosts {
                let h = DestinationPolicy.normalizeHost(host)
                if case .invalid(let why) = h {
                    throw section.error(
                        "platform_trusted_hosts", "contains `\(host)`: \(why)", fix: "list bare host names, e.g. governance.codeatelier.tech")
                }
                normalized.insert(DestinationPolicy.canonicalText(h))
            }
            c.trustedHosts = normalized
        }
        c.maxQueueSize = try section.int("max_queue_size", env: "GOVERNANCE_PLATFORM_MAX_QUEUE_SIZE", default: c.maxQueueSize, range: 1...10_000_000)
        c.durable = try section.bool("durable", env: "GOVERNANCE_PLATFORM_BRIDGE_DURABLE", default: c.durable)
        c.caFile = try section.string("ca_file", env: "GOVERNANCE_PLATFORM_CA_FILE")
        c.requestTimeout = try section.double("request_timeout", default: c.requestTimeout, range: 0.05...300)
        c.connectTimeout = try section.double("connect_timeout", default: c.connectTimeout, range: 0.05...300)
        c.retryBudget = try section.double("retry_budget", default: c.retryBudget, range: 0...86_400)
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...3_600)
        c.shutdownTimeout = try section.double("shutdown_timeout", default: c.shutdownTimeout, range: 0...3_600)
        c.redact = try section.bool("redact", default: c.redact)
        c.resolve = try section.stringList("resolve") ?? []
        for entry in c.resolve where entry.split(separator: ":", omittingEmptySubsequences: false).count < 3 {
            throw section.error("resolve", "contains `\(entry)`", fix: "write host:port:address, e.g. platform.example.com:443:203.0.113.7")
        }
        c.allowLoopback = try section.bool("allow_loopback", default: false)
        c.relayBatchEvents = try section.int("relay_batch_events", default: 0, range: 0...100_000)
        try section.finish()
        if c.relayBatchEvents > 0, c.relayBatchURL == nil {
            throw section.error(
                "relay_batch_events", "is set, but platform_ingest_url `\(c.ingestURL ?? "")` is not a collector's `…/api/v1/ingest/events`",
                fix:
                    "point platform_ingest_url at the other collector's ingest_http (http(s)://host:port/api/v1/ingest/events), or leave relay_batch_events at 0"
            )
        }

        if c.ingestToken?.isEmpty == true { c.ingestToken = nil }
        if c.enabled, let url = c.ingestURL, !url.isEmpty {
            if case .failure(let refusal) = DestinationPolicy.check(url: url, trustedHosts: c.trustedHosts, allowLoopback: c.allowLoopback) {
                throw section.error(
                    "platform_ingest_url", "is refused: \(refusal.reason)",
                    fix: "use the platform's https URL; for a local platform set allow_loopback: true; check platform_trusted_hosts")
            }
        }
        if let caFile = c.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw section.error("ca_file", "names `\(caFile)`, which cannot be read", fix: "give the path of a PEM CA bundle")
        }
        return c
    }

    /// The URL for log lines: scheme, host, port and path only (userinfo is refused anyway).
    public var displayURL: String {
        guard let url = ingestURL, case .success(let p) = DestinationPolicy.parseURL(url) else { return "<invalid URL>" }
        let host = DestinationPolicy.canonicalText(p.host)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(p.scheme)://\(shownHost):\(p.port)\(p.path)"
    }
}
