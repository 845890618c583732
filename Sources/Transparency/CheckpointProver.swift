package import AuditStore
package import Foundation
import Pipeline

/// Inclusion and consistency proofs from the signer's leaf record, as JSON anyone can check with
/// SHA-256 and Ed25519 alone (docs/components/checkpoints.md gives the format and a verifier).
package struct CheckpointProver {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
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

    /// Against the checkpoint of `size`, or the newest one that covers the event.
    package func inclusion(of eventID: UUID, checkpointSize size: Int?) throws -> InclusionProof {
        guard let index = try store.leafIndex(of: eventID) else {
            throw Failure(
                description: "event \(eventID.lowercasedString) is not in the checkpoint tree yet (it may be newer than the signer's last step)")
        }
        let stored = try size.map { try store.checkpoint(size: $0) } ?? store.latestCheckpoint()
        guard let stored, stored.size > index else {
            throw Failure(
                description: size.map { "no checkpoint of tree size \($0) covers leaf \(index)" }
                    ?? "no checkpoint covers leaf \(index) yet: wait for the next one (checkpoints.interval)")
        }
        let leaves = try leafHashes(upTo: stored.size, note: stored.note)
        guard let row = try EventReads.storedColumns(of: eventID, on: store.connection) else {
            throw Failure(description: "event \(eventID.lowercasedString) is in the tree but not in the table: it was deleted")
        }
        let leaf = AuditLeaf.bytes(columns: row)
        guard MerkleHash.leaf(leaf) == leaves[index] else {
            throw Failure(
                description: "event \(eventID.lowercasedString) was changed after it was appended: its row no longer hashes to leaf \(index)")
        }
        return InclusionProof(
            eventID: eventID.lowercasedString, leafIndex: index, leaf: Data(leaf).base64EncodedString(),
            auditPath: MerkleProof.inclusion(index: index, leaves: leaves[...]).map { Data($0).base64EncodedString() },
            checkpoint: stored.note)
    }

    package func consistency(oldSize: Int, newSize: Int) throws -> ConsistencyProof {
        guard oldSize <= newSize else { throw Failure(description: "OLD (\(oldSize)) must not be larger than NEW (\(newSize))") }
        guard let old = try store.checkpoint(size: oldSize), let new = try store.checkpoint(size: newSize) else {
            throw Failure(description: "both sizes must be stored checkpoints' tree sizes (see governance_checkpoints)")
        }
        let leaves = try leafHashes(upTo: newSize, note: new.note)
        return ConsistencyProof(
            oldCheckpoint: old.note, newCheckpoint: new.note,
            proof: MerkleProof.consistency(oldSize: oldSize, leaves: leaves[...]).map { Data($0).base64EncodedString() })
    }

    /// The recorded leaf hashes below `size`, checked against the checkpoint's root (a proof
    /// from a rewritten leaf record would not verify; better to say so here).
    private func leafHashes(upTo size: Int, note: String) throws -> [[UInt8]] {
        var leaves: [[UInt8]] = []
        leaves.reserveCapacity(size)
        while leaves.count < size {
            let batch = try store.leafHashes(leaves.count..<min(size, leaves.count + 100_000))
            if batch.isEmpty { break }
            leaves += batch.map(\.hash)
        }
        guard leaves.count == size, MerkleProof.root(leaves[...]) == (try Checkpoint(text: SignedNote.unverifiedText(note))).rootHash else {
            throw Failure(
                description: "the leaf record does not match the checkpoint of tree size \(size): run `governance-collector checkpoint verify`")
        }
        return leaves
    }
}
