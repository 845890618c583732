#if PlatformBridge
    public import AuditStore
    public import Pipeline
    import Config
    import CoreMetrics
    import CurlHTTP
    import Foundation
    import Logging
    import ServiceLifecycle

    /// `checkpoint_witness`: publishes every signed checkpoint (`governance_checkpoints`, written by
    /// the `checkpoints:` signer) to an HTTPS witness, as the C2SP signed note itself in a `POST`
    /// (`Content-Type: text/plain; charset=utf-8`, `X-Governance-Checkpoint-Size`). Checkpoints go
    /// in tree-size order, each retried with backoff (up to `max_backoff`) until the witness answers
    /// 2xx, across restarts: the cursor in `governance_witness_deliveries` is claimed with
    /// `FOR UPDATE SKIP LOCKED`, so several collectors deliver each checkpoint once between them.
    /// A crash between a 2xx and its commit repeats one delivery; a witness keys on the size.
    public final class CheckpointWitnessExporter: StoreReadingExporter, Sendable {
        public let config: CheckpointWitnessConfig
        let logger: Logger
        let database: AuditDatabase
        let control: ExportQueue
        let deliveries: CounterFamily
        let pending: Gauge

        /// Throws when the pipeline's primary shares no audit database (only an embedder's own primary could).
        public init(config: CheckpointWitnessConfig, context: BuildContext) throws(MissingAuditDatabase) {
            guard let database = context.resources.auditDatabase else { throw MissingAuditDatabase(component: context.id) }
            self.config = config
            self.database = database
            control = ExportQueue(capacity: 1, clock: context.clock)
            logger = context.logger
            deliveries = context.telemetry.counterFamily(
                "governance_checkpoint_witness_deliveries_total", [("exporter", context.id)], varying: "result")
            pending = context.telemetry.gauge("governance_checkpoint_witness_pending", [("exporter", context.id)])
        }

        /// Checkpoints are polled every `poll_interval`: a commit does not make one.
        public func committed() {}

        public func run() async throws {
            logger.info("checkpoint_witness.started", metadata: ["url": "\(config.endpoint.url)"])
            await control.run(WitnessSender(exporter: self), shutdownTimeout: config.endpoint.timeout)
        }
    }

    /// The exporter's sender: one PostgreSQL connection, one libcurl handle, on a thread of its own.
    actor WitnessSender: OutboxSender {
        nonisolated let executor = BlockingExecutor(name: "checkpoint_witness")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        let exporter: CheckpointWitnessExporter
        let poster: GuardedPoster
        var connection: PGConnection?
        var control: ExportQueue { exporter.control }
        var config: CheckpointWitnessConfig { exporter.config }
        var logger: Logger { exporter.logger }

        init(exporter: CheckpointWitnessExporter) {
            self.exporter = exporter
            let token = exporter.config.bearerToken.map { ["Authorization: Bearer \($0)"] } ?? []
            poster = exporter.config.endpoint.poster(
                headers: ["Content-Type: text/plain; charset=utf-8", "User-Agent: governance-collector-checkpoint-witness"] + token,
                shouldAbort: { [control = exporter.control] in control.isPastDeadline })
        }

        func run() async {
            await poll(every: config.pollInterval, logger: logger, unavailable: "checkpoint_witness.database_unavailable")
        }

        func connect() throws(PGError) -> PGConnection {
            try exporter.database.connect(applicationName: "governance-collector checkpoint_witness")
        }

        func deliverNext(_ connection: PGConnection) throws(PGError) -> Bool {
            let witness = config.endpoint.url
            return try connection.transaction { () throws(PGError) in
                // Another collector holding the row is delivering; nothing is due during a backoff.
                guard let cursor = try WitnessDeliveries.claimDue(witness, on: connection) else { return false }
                guard let next = try CheckpointTables.checkpoint(after: cursor.deliveredSize, on: connection) else {
                    exporter.pending.record(0)
                    return false
                }
                exporter.pending.record(next.remaining)
                let attempt = cursor.attempts + 1
                if let reason = HTTPSEndpoint.deliver(
                    Array(next.checkpoint.note.utf8), headers: ["X-Governance-Checkpoint-Size: \(next.checkpoint.size)"], with: poster)
                {
                    let delay = min(config.maxBackoff, pow(2, Double(min(attempt, 20))) / 10)
                    try WitnessDeliveries.deliveryFailed(witness, attempt: attempt, reason: reason, retryIn: delay, on: connection)
                    exporter.deliveries.increment("failed")
                    logger.warning(
                        "checkpoint_witness.delivery_failed",
                        metadata: [
                            "tree_size": "\(next.checkpoint.size)", "attempt": "\(attempt)", "error": "\(reason)", "retry_in_s": "\(delay)",
                        ])
                } else {
                    try WitnessDeliveries.delivered(witness, size: next.checkpoint.size, on: connection)
                    exporter.deliveries.increment("sent")
                    logger.info("checkpoint_witness.delivered", metadata: ["tree_size": "\(next.checkpoint.size)", "attempt": "\(attempt)"])
                }
                return true
            }
        }
    }
#endif
