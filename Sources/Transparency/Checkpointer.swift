package import AuditStore
import CoreMetrics
import Foundation
package import Logging
package import Pipeline
import ServiceLifecycle

/// One step of the signer, on its connection: if it holds the signer lock, read the rows
/// committed after the tree's cursor (in commit order, as the durable bridge does, so a late
/// commit is never skipped), append their leaves, and sign a checkpoint when one is due.
package struct CheckpointStep {
    let store: CheckpointStore
    let config: CheckpointsConfig
    var batchRows = 5000

    package init(store: CheckpointStore, config: CheckpointsConfig) {
        self.store = store
        self.config = config
    }

    package enum Outcome: Sendable {
        case standby
        case appended(rows: Int, caughtUp: Bool, signed: (size: Int, note: String)?)
    }

    package func run() throws -> Outcome {
        guard try store.holdsSignerLock() else { return .standby }
        var state = try store.loadState()
        let latest = try store.latestCheckpoint()
        let signedSize = latest?.size ?? 0
        // Never read past the next max_events boundary, so checkpoints land on it.
        let limit = max(1, min(batchRows, config.maxEvents - (state.tree.size - signedSize)))
        let rows = try AuditTableFollower(connection: store.connection).fetch(after: state.cursor, limit: limit)
        var leaves: [(eventID: UUID?, hash: [UInt8])] = []
        leaves.reserveCapacity(rows.count)
        for row in rows {
            let hash = MerkleHash.leaf(AuditLeaf.bytes(row))
            state.tree.append(leafHash: hash)
            state.cursor = row.cursor
            leaves.append((row.eventID, hash))
        }
        let caughtUp = rows.count < limit
        let unsigned = state.tree.size - signedSize
        let due = unsigned > 0 && (unsigned >= config.maxEvents || (caughtUp && (latest?.ageSeconds ?? state.ageSeconds) >= config.interval))
        var signed: (Checkpoint, note: String, keyHash: String)?
        if due || !leaves.isEmpty {
            if due {
                let checkpoint = Checkpoint(origin: config.signer.verifier.name, size: state.tree.size, rootHash: state.tree.root)
                signed = (checkpoint, try config.signer.sign(checkpoint.text), config.signer.verifier.keyHash)
            }
            try store.append(leaves, state: state, checkpoint: signed)
        }
        // Interior nodes for proofs, from the leaves just hashed (and a tree from before they were kept, a batch a step).
        let nodesStored = try MerkleNodes(connection: store.connection).fill(upTo: state.tree.size, newLeaves: leaves.map(\.hash))
        return .appended(rows: rows.count, caughtUp: caughtUp && nodesStored, signed: signed.map { ($0.0.size, $0.note) })
    }
}

/// The checkpoint signer: follows the audit table (every row, the SDK's own writes included),
/// keeps the Merkle tree's compact state in PostgreSQL and writes a signed checkpoint every
/// `interval` or `max_events` rows. One collector per database signs (a session advisory lock);
/// the others stand by and take over if it goes away. Each checkpoint is also published to the
/// configured witnesses.
package final class Checkpointer: Service, Sendable {
    let config: CheckpointsConfig
    let worker: PGWorker
    let witnesses: [any CheckpointWitness]
    let logger: Logger
    let treeSize: Gauge
    let signedTotal: Counter
    /// What the signing interval and retries are timed by (the collector's clock).
    let clock: any Clock<Duration>

    /// `pipeline`: where `witnesses.audit_event` submits each checkpoint (the configured pipeline).
    package init(
        config: CheckpointsConfig, database: AuditDatabase, pipeline: Pipeline?, telemetry: Telemetry, clock: any Clock<Duration>, logger: Logger
    ) {
        self.config = config
        self.clock = clock
        worker = database.worker(applicationName: "governance-collector checkpoints")
        var witnesses: [any CheckpointWitness] = config.witnessDirectory.map { [DirectoryWitness(directory: $0)] } ?? []
        if config.witnessEvents, let pipeline { witnesses.append(PipelineWitness(pipeline: pipeline)) }
        self.witnesses = witnesses
        self.logger = logger
        treeSize = telemetry.gauge("governance_checkpoint_tree_size")
        signedTotal = telemetry.counter("governance_checkpoints_signed_total")
    }

    package func run() async throws {
        let config = config
        var migrated = false
        var backoff = Backoff(initial: 1, maximum: 30)
        var unpublished: String?
        var lastOutcome = ""
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = min(1, config.interval)
            do {
                if !migrated {
                    try await worker.run { connection in
                        let store = CheckpointStore(connection: connection)
                        try store.migrate()
                        try store.register(config.signer.verifier)
                        return ()
                    }
                    migrated = true
                    // Publish the newest checkpoint again: a witness may have missed it before a restart.
                    unpublished = try await worker.run { try CheckpointStore(connection: $0).latestCheckpoint()?.note }
                    logger.info("checkpoints.started", metadata: ["key": "\(config.signer.verifier.encoded)"])
                }
                let outcome = try await worker.run { try CheckpointStep(store: CheckpointStore(connection: $0), config: config).run() }
                switch outcome {
                case .standby:
                    if lastOutcome != "standby" {
                        logger.info("checkpoints.standby", metadata: ["reason": "another collector holds the signer lock"])
                    }
                    lastOutcome = "standby"
                case .appended(let rows, let caughtUp, let signed):
                    if lastOutcome == "standby" { logger.info("checkpoints.signing") }
                    lastOutcome = "signing"
                    if !caughtUp || rows > 0 { wait = 0 }
                    if let signed {
                        signedTotal.increment()
                        unpublished = signed.note
                        treeSize.record(signed.size)
                        logger.debug("checkpoints.signed", metadata: ["tree_size": "\(signed.size)"])
                    }
                }
                backoff.succeeded()
            } catch {
                wait = backoff.failed()
                logger.warning("checkpoints.retrying", metadata: ["error": "\(error)", "retry_in_seconds": "\(wait)"])
            }
            if let note = unpublished, await publish(note) { unpublished = nil }
            if wait > 0 { await pause(for: .seconds(wait), on: clock) }
        }
    }

    /// True when every witness has the note; the rest get it again on the next step.
    private func publish(_ note: String) async -> Bool {
        var all = true
        for witness in witnesses {
            do { try await witness.publish(note) } catch {
                all = false
                logger.warning("checkpoints.witness_failed", metadata: ["witness": "\(witness.name)", "error": "\(error)"])
            }
        }
        return all
    }
}
