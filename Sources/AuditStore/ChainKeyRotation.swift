import Config
import Crypto
public import Foundation
import Pipeline

/// Rotates the HMAC chain's key the way the reference SDK's `rotate_chain_key` does
/// (reference-sdk.md §11), so either side's verifier accepts the other's rotations: in one
/// transaction, a marker row of kind `audit.chain_key_rotation` (session …0001, agent
/// `governance.system`) linked to the table's last row, MACed under the outgoing key
/// (`hmac_value`) and the incoming key (`hmac_next`); the incoming key version activated at the
/// next chain_seq and the outgoing one retired there. Unlike the SDK, a registry with no key
/// yet gets the outgoing key as version 1 from chain_seq 1 (the SDK requires inserting it by hand).
public struct ChainKeyRotation {
    public static let markerSession = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!
    /// Serializes rotations (the SDK takes no lock; two at once would fork the registry).
    static let lockKey: Int64 = 0x6763_726f_7461_7465  // "gcrotate"

    public struct Result: Sendable {
        public var markerEventID: UUID
        public var markerChainSeq: Int64
        public var outgoingVersion: Int
        public var incomingVersion: Int
        public var outgoingFingerprint: String
        public var incomingFingerprint: String
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    let connection: PGConnection

    public init(connection: PGConnection) {
        self.connection = connection
    }

    public func rotate(outgoing: [UInt8], incoming: [UInt8], operatorID: String, reason: String) throws -> Result {
        let (outFP, inFP) = (ChainKeyring.fingerprint(outgoing), ChainKeyring.fingerprint(incoming))
        guard outFP != inFP else { throw Failure(description: "the incoming key is the outgoing key") }
        try connection.exec("BEGIN")
        do {
            try connection.exec("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
            if try connection.exec("SELECT count(*) FROM governance_audit_chain_keys").rows.first?.first == "0" {
                try connection.exec("INSERT INTO governance_audit_chain_keys (fingerprint, activated_at_chain_seq) VALUES ($1, 1)", [outFP])
            }
            guard
                let versionText = try connection.exec(
                    """
                    SELECT key_version FROM governance_audit_chain_keys WHERE fingerprint = $1 AND retired_at_chain_seq IS NULL
                    ORDER BY key_version DESC LIMIT 1
                    """, [outFP]
                ).rows.first?[0] ?? nil, let outgoingVersion = Int(versionText)
            else {
                throw Failure(
                    description:
                        "the outgoing secret (fingerprint \(outFP.prefix(16))…) is not the active key in governance_audit_chain_keys: pass the secret in use now"
                )
            }
            let previous = try connection.exec("SELECT hmac_value FROM governance_audit_events ORDER BY chain_seq DESC LIMIT 1").rows.first?[0] ?? nil
            var marker = AuditEvent(
                eventID: UUID(), sessionID: Self.markerSession, agentID: "governance.system", kind: ChainVerifier.rotationKind,
                metadata: .object([
                    .init("incoming_fingerprint", .string(inFP)), .init("operator_id", .string(operatorID)),
                    .init("outgoing_fingerprint", .string(outFP)), .init("outgoing_key_version", .number(String(outgoingVersion))),
                    .init("rotation_reason", .string(reason)),
                ]),
                prevHash: previous, createdAt: .now(), workflow: "")
            marker.hmac = AuditChain.hmac(marker, key: SymmetricKey(data: outgoing))
            let hmacNext = AuditChain.hmac(marker, key: SymmetricKey(data: incoming))
            guard
                let seqText = try connection.exec(
                    """
                    INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, hmac_next, created_at)
                    VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7, $8, $9::timestamptz) RETURNING chain_seq
                    """,
                    [
                        marker.eventID.lowercasedString, marker.sessionID.lowercasedString, marker.agentID, marker.kind,
                        marker.metadata.serialized(.pythonCanonical), marker.prevHash, marker.hmac, hmacNext,
                        marker.createdAt.pythonISOFormat,
                    ]
                ).rows.first?[0] ?? nil, let chainSeq = Int64(seqText)
            else {
                throw Failure(description: "the marker row was not written")
            }
            let incomingText =
                try connection.exec(
                    """
                    INSERT INTO governance_audit_chain_keys (fingerprint, activated_at_chain_seq) VALUES ($1, $2) RETURNING key_version
                    """, [inFP, String(chainSeq + 1)]
                ).rows.first?[0] ?? nil
            try connection.exec(
                "UPDATE governance_audit_chain_keys SET retired_at_chain_seq = $1 WHERE key_version = $2 AND retired_at_chain_seq IS NULL",
                [String(chainSeq + 1), String(outgoingVersion)])
            try connection.exec("COMMIT")
            return Result(
                markerEventID: marker.eventID, markerChainSeq: chainSeq, outgoingVersion: outgoingVersion,
                incomingVersion: incomingText.flatMap { Int($0) } ?? 0, outgoingFingerprint: outFP, incomingFingerprint: inFP)
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }
}
