package import AuditStore
import CoreMetrics
import Foundation
package import Logging
package import Pipeline
import ServiceLifecycle

/// One step of the continuous verifier, on its connection: if it holds the verifier lock,
/// recompute its own Merkle tree over the rows committed since its last step, never past the
/// newest signed checkpoint, and check each checkpoint it reaches against it with only the
/// trusted public keys; re-check those rows' HMAC links (with the chain secret, when the
/// pipeline has one) and agent signatures. So the cost is proportional to new rows. Rows
/// already checked are checked again, whole table against the newest checkpoint, only when
/// PostgreSQL's counters show rows of the append-only table changed or removed in place.
package struct VerificationStep {
    let connection: PGConnection
    let trusted: [NoteVerifier]
    /// The pipeline's chain secret; nil when it has no chain (links are then not checked).
    let chainSecret: [UInt8]?
    var batchRows = 5000

    package init(connection: PGConnection, trusted: [NoteVerifier], chainSecret: [UInt8]?, batchRows: Int = 5000) {
        (self.connection, self.trusted, self.chainSecret, self.batchRows) = (connection, trusted, chainSecret, batchRows)
    }

    package enum Outcome: Sendable {
        case standby
        /// `failure`: the first failure, when this step found it (it stays in `progress`).
        /// `uncheckedHMACs`: rows under a chain key version whose secret this collector lacks.
        case checked(rows: Int, caughtUp: Bool, progress: VerificationProgress, failure: String?, uncheckedHMACs: Int)
    }

    package func run() throws -> Outcome {
        guard try VerificationProgress.holdsLock(connection) else { return .standby }
        var progress =
            try VerificationProgress.load(connection)
            ?? VerificationProgress(tree: .init(size: 0, frontier: [], cursor: .init(txid: "0", chainSeq: 0)))
        var problems: [String] = []
        let mark = try VerificationProgress.changeMark(connection)
        if let last = progress.changeMark, last != mark {
            do {
                problems += try wholeTable()
            } catch let error as PGError {
                throw error
            } catch {
                // A checkpoint no trusted key opens, a malformed seal: findings, not retries.
                problems.append("checking the whole table: \(error)")
            }
        }
        progress.changeMark = mark

        try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ")
        var committed = false
        defer { if !committed { _ = try? connection.exec("ROLLBACK") } }
        // Rows retention removed before this verifier read them: continue from the seal's tree
        // state, which the signed roots after it check.
        if let cut = try RetentionRecord(connection: connection).treeCut(), cut.size > progress.tree.size {
            progress.tree = .init(size: cut.size, frontier: Array(cut.frontier.joined()), cursor: cut.cursor)
        }
        let newest = try CheckpointTables.latest(on: connection)?.size ?? 0
        let limit = min(batchRows, newest - progress.tree.size)
        var rows: [AuditTableFollower.Row] = []
        var stuck = false
        var unchecked = 0
        if limit > 0 {
            rows = try AuditTableFollower(connection: connection).fetch(after: progress.tree.cursor, limit: limit)
            let treeProblems = try checkTree(rows, progress: &progress)
            // The tree stays where the table and a signed root first differ: steps wait there.
            stuck = !treeProblems.isEmpty
            problems += treeProblems
            if let chainSecret {
                let checked = try ChainVerifier(connection: connection, secrets: [chainSecret]).checkNew(rows)
                problems += checked.problems.map(\.description)
                unchecked = checked.unchecked
            }
            problems += try checkSignatures(rows)
            if !stuck { progress.rowsChecked += Int64(rows.count) }
        }
        let failure = progress.failure == nil && !problems.isEmpty ? problems.joined(separator: "; ") : nil
        if let failure { progress.failure = failure }
        try progress.save(connection)
        try connection.exec("COMMIT")
        committed = true
        return .checked(
            rows: stuck ? 0 : rows.count, caughtUp: stuck || rows.count < limit || progress.tree.size >= newest, progress: progress, failure: failure,
            uncheckedHMACs: unchecked)
    }

    /// Appends `rows` to the verifier's tree and compares it with every signed checkpoint it
    /// reaches; a mismatch names the first row whose leaf differs from the one the signer recorded.
    private func checkTree(_ rows: [AuditTableFollower.Row], progress: inout VerificationProgress) throws -> [String] {
        let state = progress.tree
        guard var tree = CompactMerkleTree(size: state.size, packedFrontier: state.frontier) else {
            return ["governance_verification_state holds a malformed tree at size \(state.size): delete its row to verify from the start"]
        }
        let first = tree.size
        var roots: [Int: [UInt8]] = [:]
        var problems: [String] = []
        for stored in try CheckpointTables.checkpoints(after: first, upTo: first + rows.count, on: connection) {
            do {
                let (checkpoint, _) = try Checkpoint.open(stored.note, verifiers: trusted)
                roots[stored.size] = checkpoint.rootHash
            } catch {
                problems.append("stored checkpoint at tree size \(stored.size): \(error)")
            }
        }
        let recorded = try CheckpointTables.leafHashes(first..<(first + rows.count), on: connection)
        var cursor = state.cursor
        for (offset, row) in rows.enumerated() {
            let hash = MerkleHash.leaf(AuditLeaf.bytes(row))
            // Every row read here is under a signed checkpoint, so the signer recorded its leaf:
            // a row whose leaf differs is reported at once, not at the next checkpoint.
            if offset >= recorded.count || recorded[offset].hash != hash {
                problems.append(
                    "first divergent leaf \(tree.size): the table has event_id=\(row.eventID?.lowercasedString ?? "?") chain_seq=\(row.cursor.chainSeq), "
                        + (offset < recorded.count
                            ? "the signer appended event_id=\(recorded[offset].eventID) there" : "the signer recorded no leaf there")
                        + " (a row was changed, deleted, inserted or moved)")
                break
            }
            tree.append(leafHash: hash)
            cursor = row.cursor
            guard let root = roots[tree.size] else { continue }
            if root == tree.root {
                progress.checkedSize = tree.size
            } else {
                problems.append(
                    "the recomputed tree does not match the signed checkpoint at tree size \(tree.size), though every leaf matches the signer's record: the leaf record was rewritten too"
                )
                break
            }
        }
        if problems.isEmpty {
            progress.tree = .init(size: tree.size, frontier: Array(tree.frontier.joined()), cursor: cursor)
        }
        return problems
    }

    /// Rows stored as `signed`, each checked again with its agent's key.
    private func checkSignatures(_ rows: [AuditTableFollower.Row]) throws -> [String] {
        let signed = rows.filter { $0.event?.signatureStatus == "signed" }
        guard !signed.isEmpty else { return [] }
        let audit = SignatureAudit(connection: connection, keys: try AgentKeyTable.load(connection).keys)
        return signed.compactMap { row in
            guard let event = row.event else { return nil }
            if case .failed(let failure) = audit.recheck(event, chainSeq: row.cursor.chainSeq) { return failure.description }
            return nil
        }
    }

    /// The whole table against the newest checkpoint (as `checkpoint verify` does).
    private func wholeTable() throws -> [String] {
        guard try CheckpointTables.latest(on: connection) != nil else { return [] }
        let report = try CheckpointVerifier(connection: connection).verify(note: nil, trusted: trusted)
        return report.problems
    }
}

/// The continuous verifier: one per database (a session advisory lock of its own, so it may
/// run on another collector than the signer), a step every `interval` seconds, at once while
/// behind. A failure is logged as an error, kept in `governance_verification_state`, shown on
/// the dashboard and counted in `governance_verification_failed`.
package final class ContinuousVerifier: Service, Sendable {
    let worker: PGWorker
    let trusted: [NoteVerifier]
    let chainSecret: [UInt8]?
    let interval: Double
    let clock: any Clock<Duration>
    let logger: Logger
    let failed: Gauge
    let rowsChecked: Counter

    package init(
        database: AuditDatabase, trusted: [NoteVerifier], chainSecret: [UInt8]?, interval: Double, telemetry: Telemetry, clock: any Clock<Duration>,
        logger: Logger
    ) {
        worker = database.worker(applicationName: "governance-collector verification")
        (self.trusted, self.chainSecret, self.interval, self.clock, self.logger) = (trusted, chainSecret, interval, clock, logger)
        failed = telemetry.gauge("governance_verification_failed")
        rowsChecked = telemetry.counter("governance_verification_rows_checked_total")
    }

    package func run() async throws {
        let (trusted, chainSecret) = (trusted, chainSecret)
        var migrated = false
        var standing = false
        await RepeatingStep.run(on: clock, logger: logger, failure: "verification.retrying", maxBackoff: 30) {
            if !migrated {
                try await worker.run { try CheckpointTables.migrate($0) }
                migrated = true
            }
            let outcome = try await worker.run { try VerificationStep(connection: $0, trusted: trusted, chainSecret: chainSecret).run() }
            guard case .checked(let rows, let caughtUp, let progress, let failure, let unchecked) = outcome else {
                if !standing { logger.info("verification.standby", metadata: ["reason": "another collector holds the verifier lock"]) }
                standing = true
                return interval
            }
            standing = false
            rowsChecked.increment(by: rows)
            failed.record(progress.failure == nil ? 0 : 1)
            if let failure { logger.error("verification.failed", metadata: ["problem": "\(failure)", "tree_size": "\(progress.tree.size)"]) }
            if unchecked > 0 {
                logger.warning(
                    "verification.hmac_unchecked",
                    metadata: [
                        "rows": "\(unchecked)", "reason": "their chain key version's secret is not this collector's; `verify --key` checks them",
                    ])
            }
            return caughtUp ? interval : 0
        }
    }
}
