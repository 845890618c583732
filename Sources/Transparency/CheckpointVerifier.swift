package import AuditStore
import Config
import Pipeline
import Foundation

/// Checks the audit table against a signed checkpoint with only the log's public key(s): the
/// tree is recomputed from the rows in commit order up to the checkpoint's size, and every
/// stored checkpoint on the way is checked too. No HMAC secret is involved, so whoever holds
/// the secret cannot make a rewrite pass.
package struct CheckpointVerifier {
    package struct Report: Sendable {
        package var checkpoint: Checkpoint
        package var signer: NoteVerifier
        /// Stored checkpoints whose signature and root were checked, by tree size.
        package var checkedCheckpoints: [Int] = []
        package var rowsChecked = 0
        /// Rows committed after the checkpoint: not covered until the next one.
        package var rowsAfter = 0
        /// The newest retention seal's cut: the tree was continued from its recorded state, and
        /// stored checkpoints at or below its size had only their signatures checked.
        package var retention: RetentionRecord.TreeCut?
        package var problems: [String] = []
        package var isClean: Bool { problems.isEmpty }
    }

    let store: CheckpointStore

    package init(connection: PGConnection) {
        store = CheckpointStore(connection: connection)
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// `note` is the checkpoint to check (e.g. one a witness kept); nil takes the newest stored one.
    package func verify(note: String?, trusted: [NoteVerifier], batchRows: Int = 5000) throws -> Report {
        guard let note = try note ?? store.latestCheckpoint()?.note else {
            throw Failure(description: "the database has no checkpoint yet (governance_checkpoints is empty)")
        }
        let (checkpoint, signer) = try Checkpoint.open(note, verifiers: trusted)
        var report = Report(checkpoint: checkpoint, signer: signer)
        // The stored checkpoints on the way, each opened with the trusted keys.
        var roots: [Int: [UInt8]] = [:]
        for stored in try store.checkpoints(upTo: checkpoint.size) {
            do {
                let (c, _) = try Checkpoint.open(stored.note, verifiers: trusted)
                if c.size == stored.size {
                    roots[c.size] = c.rootHash
                } else {
                    report.problems.append("stored checkpoint at tree size \(stored.size) says size \(c.size)")
                }
            } catch {
                report.problems.append("stored checkpoint at tree size \(stored.size): \(error)")
            }
        }
        roots[checkpoint.size] = checkpoint.rootHash

        try store.connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? store.connection.exec("COMMIT") }
        let follower = AuditTableFollower(connection: store.connection)
        var tree = CompactMerkleTree()
        var cursor = AuditTableFollower.Cursor(txid: "0", chainSeq: 0)
        // Rows retention removed are gone: the tree continues from the state their seal recorded,
        // which the later signed roots check (a wrong state cannot reproduce them).
        if let cut = try RetentionRecord(connection: store.connection).treeCut() {
            guard let sealed = CompactMerkleTree(size: cut.size, frontier: cut.frontier) else {
                throw Failure(description: "retention seal \(cut.sealID) records a malformed tree state at size \(cut.size)")
            }
            (tree, cursor, report.retention) = (sealed, cut.cursor, cut)
            // The seal's state is checked by every signed root after it, by the one at its size if
            // there is one, and by the root its own event states.
            let newest = try store.latestCheckpoint()?.size ?? 0
            if cut.size > newest {
                report.problems.append(
                    "retention seal \(cut.sealID) records a tree of \(cut.size) leaves, more than the newest signed checkpoint (\(newest)): retention removes only signed rows"
                )
            }
            if let eventRoot = cut.eventRoot, eventRoot != sealed.root.hexString {
                report.problems.append("retention seal \(cut.sealID) records a tree state whose root is not the one its seal event states")
            }
            if let root = roots[cut.size] {
                if root == sealed.root {
                    report.checkedCheckpoints.append(cut.size)
                } else {
                    report.problems.append("retention seal \(cut.sealID)'s tree state does not match the signed checkpoint at its size \(cut.size)")
                }
            }
        }
        let sealedSize = tree.size
        var firstDivergent: String?
        var lastGood = 0
        var firstBadCheckpoint: Int?
        while tree.size < checkpoint.size {
            let rows = try follower.fetch(after: cursor, limit: min(batchRows, checkpoint.size - tree.size))
            if rows.isEmpty { break }
            let recorded = try store.leafHashes(tree.size..<(tree.size + rows.count))
            for (offset, row) in rows.enumerated() {
                let index = tree.size
                let hash = MerkleHash.leaf(AuditLeaf.bytes(row))
                if firstDivergent == nil, offset >= recorded.count || recorded[offset].hash != hash {
                    let signed =
                        offset < recorded.count
                        ? "the signer appended event_id=\(recorded[offset].eventID) there" : "the signer recorded no leaf there"
                    let table = "the table has event_id=\(row.eventID?.lowercasedString ?? "?") chain_seq=\(row.cursor.chainSeq)"
                    firstDivergent =
                        "first divergent leaf \(index): \(signed); \(table), whose content or position differs (a row was changed, deleted, inserted or moved)"
                }
                tree.append(leafHash: hash)
                cursor = row.cursor
                if let root = roots[tree.size] {
                    if root == tree.root {
                        report.checkedCheckpoints.append(tree.size)
                        if firstBadCheckpoint == nil { lastGood = tree.size }
                    } else if firstBadCheckpoint == nil {
                        firstBadCheckpoint = tree.size
                    }
                }
            }
            report.rowsChecked = tree.size - sealedSize
        }
        if checkpoint.size <= sealedSize {
            // Nothing of it is left to recompute: its signature was checked above.
        } else if tree.size < checkpoint.size {
            report.problems.append("the table has \(tree.size) rows in commit order, but the checkpoint covers \(checkpoint.size): rows were deleted")
            firstBadCheckpoint = firstBadCheckpoint ?? checkpoint.size
        }
        if let bad = firstBadCheckpoint {
            report.problems.append(
                "the recomputed tree does not match the signed root at tree size \(bad) (the last matching checkpoint is at \(lastGood))")
            report.problems.append(
                firstDivergent ?? "the leaf record was rewritten too: the first divergent leaf is between \(lastGood) and \(bad - 1)")
        }
        report.rowsAfter = max(0, try EventReads.count(on: store.connection) - (tree.size - sealedSize))
        return report
    }
}
