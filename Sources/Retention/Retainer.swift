package import AuditStore
import CoreMetrics
package import Logging
package import Pipeline
import ServiceLifecycle
import Transparency

/// Runs retention every `interval` on the pipeline's database (at once again while a backlog
/// exceeds `max_rows`). Several collectors may run it: one pass at a time takes the lock, the
/// others find it busy.
package final class Retainer: Service, Sendable {
    let config: RetentionConfig
    let secret: [UInt8]
    /// Checkpoints are configured for this database: removal waits for the signer's tree.
    let checkpointed: Bool
    let worker: PGWorker
    let logger: Logger
    let removedRows: Counter
    let seals: Counter
    let clock: any Clock<Duration>

    package init(
        config: RetentionConfig, secret: [UInt8], checkpointed: Bool, database: AuditDatabase, telemetry: Telemetry, clock: any Clock<Duration>,
        logger: Logger
    ) {
        self.config = config
        self.clock = clock
        self.secret = secret
        self.checkpointed = checkpointed
        worker = database.worker(applicationName: "governance-collector retention")
        self.logger = logger
        removedRows = telemetry.counter("governance_retention_removed_rows_total")
        seals = telemetry.counter("governance_retention_seals_total")
    }

    package func run() async throws {
        let (config, secret, checkpointed) = (config, secret, checkpointed)
        await RepeatingStep.run(on: clock, logger: logger, failure: "retention.retrying", maxBackoff: 300) {
            let outcome = try await worker.run {
                try RetentionRun(connection: $0, tree: CompactMerkleTree.self).run(
                    keep: config.keep, secret: secret, maxRows: config.maxRows, checkpointed: checkpointed)
            }
            switch outcome {
            case .busy:
                logger.debug("retention.busy", metadata: ["reason": "another collector is running retention"])
            case .nothingDue(let cutoff, let reason):
                logger.debug("retention.nothing_due", metadata: ["cutoff": "\(cutoff)", "reason": "\(reason)"])
            case .removed(let removal):
                seals.increment()
                removedRows.increment(by: Int64(removal.rows))
                logger.info(
                    "retention.sealed",
                    metadata: [
                        "seal": "\(removal.sealID?.lowercasedString ?? "")", "rows": "\(removal.rows)", "cutoff": "\(removal.cutoff)",
                        "sessions": "\(removal.sessions)", "tree_size": "\(removal.treeSize.map(String.init) ?? "none")",
                    ])
                if removal.more { return 0.0 }
            }
            return config.interval
        }
    }
}
