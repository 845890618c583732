package import AuditStore
package import Foundation
import Pipeline

/// Inclusion and consistency proofs from the signer's leaf record, as JSON anyone can check with
/// SHA-256 and Ed25519 alone (docs/components/checkpoints.md gives the format and a verifier).
package struct CheckpointProver {
    package struct Failure: Error, CustomStringConvertible {
        package enum Kind: Sendable {
            /// No such checkpoint.
            case notFound
            /// The event is newer than the checkpoint (or than every one).
            case notYet
            /// The stored row or tree no longer leads to the signed root.
            case altered
            /// The question cannot be answered (OLD larger than NEW).
            case invalid
        }

        package var kind: Kind
        package var description: String

        init(_ kind: Kind, _ description: String) { (self.kind, self.description) = (kind, description) }
    }

    /// `governance-collector prove EVENT_ID`: the row's leaf, its index and audit path, and the
    /// signed checkpoint they lead to.
    package struct InclusionProof: Codable, Sendable {
        package var type = "inclusion"
        package var eventID: String
        package var leafIndex: Int
        /// Base64 of the leaf's bytes (the row's canonical bytes); its hash is SHA-256(0x00 ‖ leaf).
        package var leaf: String
        /// Base64 hashes, from the leaf's sibling up (RFC 9162 §2.1.3).
        package var auditPath: [String]
        package var checkpoint: String

        enum CodingKeys: String, CodingKey {
            case type, leaf, checkpoint
            case eventID = "event_id", leafIndex = "leaf_index", auditPath = "audit_path"
        }
    }

    /// `prove --consistency OLD NEW`: that the older checkpoint's tree is a prefix of the newer's.
    package struct ConsistencyProof: Codable, Sendable {
        package var type = "consistency"
        package var oldCheckpoint: String
        package var newCheckpoint: String
        /// Base64 hashes (RFC 9162 §2.1.4).
        package var proof: [String]

        enum CodingKeys: String, CodingKey {
            case type, proof
            case oldCheckpoint = "old_checkpoint", newCheckpoint = "new_checkpoint"
        }
    }

    let store: CheckpointStore

    package init(connection: PGConnection) {
        store = CheckpointStore(connection: connection)
    }

    /// The checkpoint of tree `size`, or the newest; nil when there is none (or no signer has
    /// created the tables: this collector does not sign checkpoints).
    package func checkpoint(size: Int?) throws -> (checkpoint: Checkpoint, note: String)? {
        guard try CheckpointTables.exist(on: store.connection) else { return nil }
        guard let stored = try size.map({ try store.checkpoint(size: $0) }) ?? store.latestCheckpoint() else { return nil }
        return (try Self.parse(stored), stored.note)
    }

    /// Against the checkpoint of `size`, or the newest one. Reads O(log n) stored hashes, and
    /// checks the proof against the checkpoint's root before giving it.
    package func inclusion(of eventID: UUID, checkpointSize size: Int?) throws -> InclusionProof {
        guard try CheckpointTables.exist(on: store.connection) else { throw Self.unsigned }
        guard let index = try store.leafIndex(of: eventID) else {
            throw Failure(
                .notYet, "event \(eventID.lowercasedString) is not in the checkpoint tree yet (it may be newer than the signer's last step)")
        }
        let stored = try size.map { try store.checkpoint(size: $0) } ?? store.latestCheckpoint()
        guard let stored else {
            throw size.map { Failure(.notFound, "no checkpoint has tree size \($0)") }
                ?? Failure(.notYet, "no checkpoint is signed yet: wait for the first one (checkpoints.interval)")
        }
        guard stored.size > index else {
            throw Failure(
                .notYet, "the checkpoint of tree size \(stored.size) does not cover leaf \(index) yet: wait for the next one (checkpoints.interval)")
        }
        guard let row = try EventReads.storedColumns(of: eventID, on: store.connection) else {
            throw Failure(.altered, "event \(eventID.lowercasedString) is in the tree but not in the table: it was deleted")
        }
        let leaf = AuditLeaf.bytes(columns: row)
        let nodes = MerkleNodes(connection: store.connection)
        let leafHash = try nodes.hashes(of: [MerkleNodeID(level: 0, index: index)])[0]
        guard MerkleHash.leaf(leaf) == leafHash else {
            throw Failure(.altered, "event \(eventID.lowercasedString) was changed after it was appended: its row no longer hashes to leaf \(index)")
        }
        let path = try nodes.roots(of: MerkleProof.inclusionRanges(index: index, size: stored.size))
        guard MerkleProof.verifyInclusion(index: index, size: stored.size, leafHash: leafHash, path: path, root: try Self.root(of: stored)) else {
            throw Self.mismatch(stored.size)
        }
        return InclusionProof(
            eventID: eventID.lowercasedString, leafIndex: index, leaf: Data(leaf).base64EncodedString(),
            auditPath: path.map { Data($0).base64EncodedString() }, checkpoint: stored.note)
    }

    package func consistency(oldSize: Int, newSize: Int) throws -> ConsistencyProof {
        guard try CheckpointTables.exist(on: store.connection) else { throw Self.unsigned }
        guard oldSize <= newSize else { throw Failure(.invalid, "OLD (\(oldSize)) must not be larger than NEW (\(newSize))") }
        guard let old = try store.checkpoint(size: oldSize), let new = try store.checkpoint(size: newSize) else {
            throw Failure(.notFound, "both sizes must be stored checkpoints' tree sizes (see governance_checkpoints)")
        }
        let proof = try MerkleNodes(connection: store.connection).roots(of: MerkleProof.consistencyRanges(oldSize: oldSize, newSize: newSize))
        guard
            MerkleProof.verifyConsistency(
                oldSize: oldSize, newSize: newSize, oldRoot: try Self.root(of: old), newRoot: try Self.root(of: new), proof: proof)
        else { throw Self.mismatch(newSize) }
        return ConsistencyProof(oldCheckpoint: old.note, newCheckpoint: new.note, proof: proof.map { Data($0).base64EncodedString() })
    }

    static let unsigned = Failure(.notFound, "this database has no checkpoints: no collector on it signs them (the checkpoints section)")

    /// The stored note's checkpoint (its signature is the reader's to check, with the published key).
    private static func parse(_ stored: CheckpointStore.StoredCheckpoint) throws -> Checkpoint {
        try Checkpoint(text: SignedNote.unverifiedText(stored.note))
    }

    private static func root(of stored: CheckpointStore.StoredCheckpoint) throws -> MerkleHash.Digest { try parse(stored).rootHash }

    /// A proof from a rewritten leaf or node record would not verify: better to say so here.
    private static func mismatch(_ size: Int) -> Failure {
        Failure(.altered, "the stored tree does not match the checkpoint of tree size \(size): run `governance-collector checkpoint verify`")
    }
}
