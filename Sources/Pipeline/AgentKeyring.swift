import CoreMetrics
import Synchronization

/// The agent keys signature checks look up by fingerprint: the configured ones, fixed at
/// start-up, plus the database's (`governance_agent_keys`) and the fingerprints revoked there
/// (`governance_agent_key_revocations`), which a refresher replaces whole. It lives here so the
/// processor that checks signatures need not know where keys are stored.
public final class AgentKeyring: Sendable {
    /// What a fingerprint names.
    public enum Entry: Sendable {
        case key(AgentPublicKey)
        /// Revoked in the database (checked before the keys, as the SDK's verifier does).
        case revoked
        case unknown
    }

    private struct Loaded {
        var keys: [String: AgentPublicKey] = [:]
        var revoked: Set<String> = []
    }

    /// The keys from the configuration (`verify` re-checks stored signatures with them too).
    public let configuredKeys: [AgentPublicKey]
    /// How often the database's keys and revocations are reloaded.
    public let refreshInterval: Duration
    private let configured: [String: AgentPublicKey]
    private let loaded = Mutex(Loaded())
    private let usableKeys: Gauge
    private let revokedKeys: Gauge

    /// `labels` name the owner in the gauges (`governance_agent_signature_keys`, `…_revoked_keys`).
    public init(
        configured: [AgentPublicKey], refreshInterval: Duration = .seconds(1), telemetry: Telemetry = .disabled, labels: [(String, String)] = []
    ) {
        configuredKeys = configured
        self.refreshInterval = refreshInterval
        self.configured = Dictionary(configured.map { ($0.fingerprint, $0) }) { first, _ in first }
        usableKeys = telemetry.gauge("governance_agent_signature_keys", labels)
        revokedKeys = telemetry.gauge("governance_agent_signature_revoked_keys", labels)
        record(Loaded())
    }

    public func entry(for fingerprint: String) -> Entry {
        loaded.withLock { loaded in
            if loaded.revoked.contains(fingerprint) { return .revoked }
            if let key = configured[fingerprint] ?? loaded.keys[fingerprint] { return .key(key) }
            return .unknown
        }
    }

    /// Replaces what came from the database: `keys` by their rows' fingerprints, and the revoked ones.
    public func replaceLoaded(keys: [String: AgentPublicKey], revoked: Set<String>) {
        let fresh = Loaded(keys: keys, revoked: revoked)
        loaded.withLock { $0 = fresh }
        record(fresh)
    }

    private func record(_ loaded: Loaded) {
        let usable = Set(configured.keys).union(loaded.keys.keys).subtracting(loaded.revoked)
        usableKeys.record(usable.count)
        revokedKeys.record(loaded.revoked.count)
    }
}
