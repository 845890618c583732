import Config
import Crypto
import Foundation
public import Pipeline

/// `chain`: the reference SDK's tamper-evident HMAC chain, per session. An event that arrives
/// with a `client_hmac` keeps its client's chain untouched. An event without one is chained by
/// the collector inside the commit: under the SDK's per-session advisory lock it reads the
/// session's newest `hmac_value` as `prev_hash` and computes the event's HMAC with
/// `GOVERNANCE_AUDIT_SECRET`, so SDK processes and collectors can share one table and the head
/// stays consistent across restarts, failed transactions and several instances.
public struct ChainStage: CommitStage {
    let key: SymmetricKey
    /// The configured secret, for `governance-collector verify` and the UI; never logged or printed.
    let secret: String
    /// Whether a client's `client_hmac` must verify under this secret (clients and collectors
    /// sharing one key, as `verify` assumes).
    let checksClientHMAC: Bool

    public var resources: SharedResources {
        var shared = SharedResources()
        shared.provide(ChainSecret(secret))
        return shared
    }

    public init(secret: String, checkClientHMAC: Bool = true) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.secret = secret
        checksClientHMAC = checkClientHMAC
    }

    /// A client's HMAC is checked as `verify` will check it (metadata read as Python reads it),
    /// so a forged or mis-keyed `client_hmac` is refused now rather than found broken later.
    /// Numbers of events the collector will chain are written as Python would re-print them, so
    /// the SDK's verifier (which reads metadata back through Python) computes the same HMAC.
    public func prepare(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        if let clientHMAC = event.hmac {
            guard checksClientHMAC else { return event }
            var hashed = event
            hashed.metadata = event.metadata.pythonNormalized()
            guard AuditChain.hmac(hashed, key: key) == clientHMAC else {
                throw EventRejection(
                    field: "client_hmac",
                    message:
                        "does not verify under the chain processor's secret: the client chains under another key (set check_client_hmac: false to store such events unchecked) or the event differs from what it MACed"
                )
            }
            return event
        }
        var event = event
        event.metadata = event.metadata.pythonNormalized()
        return event
    }

    public func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
        let unchained = Set(events.filter { $0.hmac == nil }.map(\.sessionID))
        guard !unchained.isEmpty else { return }
        var heads = try transaction.chainHeads(Array(unchained))
        for index in events.indices {
            if let clientHMAC = events[index].hmac {
                heads[events[index].sessionID] = clientHMAC
                continue
            }
            events[index].prevHash = heads[events[index].sessionID]
            let hmac = AuditChain.hmac(events[index], key: key)
            events[index].hmac = hmac
            heads[events[index].sessionID] = hmac
        }
    }

    public func reads(for events: [AuditEvent]) -> [CommitRead] {
        let unchained = Set(events.filter { $0.hmac == nil }.map(\.sessionID))
        return unchained.isEmpty ? [] : [.chainHeads(Array(unchained))]
    }

    public static let factory = CommitStageFactory(type: "chain") { section throws(ConfigError) in
        let secret = try section.requiredString(
            "secret", env: "GOVERNANCE_AUDIT_SECRET", secret: true,
            fix: "set GOVERNANCE_AUDIT_SECRET (the SDK's HMAC key) or `secret: ${env:NAME}`")
        if secret.utf8.count < 16 {
            throw section.error("secret", "is shorter than 16 bytes", fix: "use the same long random secret as the SDK's GOVERNANCE_AUDIT_SECRET")
        }
        let checkClientHMAC = try section.bool("check_client_hmac", default: true)
        try section.finish()
        return { _ in ChainStage(secret: secret, checkClientHMAC: checkClientHMAC) }
    }
}
