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
    public let hmacSecret: String?

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
        hmacSecret = secret
    }

    /// Numbers of events the collector will chain are written as Python would re-print them, so
    /// the SDK's verifier (which reads metadata back through Python) computes the same HMAC.
    public func prepare(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        guard event.hmac == nil else { return event }
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
        let secret = try section.requiredString("secret", env: "GOVERNANCE_AUDIT_SECRET", secret: true,
                                                fix: "set GOVERNANCE_AUDIT_SECRET (the SDK's HMAC key) or `secret: ${env:NAME}`")
        if secret.utf8.count < 16 {
            throw section.error("secret", "is shorter than 16 bytes", fix: "use the same long random secret as the SDK's GOVERNANCE_AUDIT_SECRET")
        }
        try section.finish()
        return { _ in ChainStage(secret: secret) }
    }
}
