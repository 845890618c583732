public import Pipeline

/// The delivery cursor of each `checkpoint_witness` URL, shared by every collector on the database.
public enum CheckpointWitnessTable {
    public static let schema = SchemaSteps(owner: "checkpoint_witness", statements: [
        """
        CREATE TABLE IF NOT EXISTS governance_witness_deliveries (
            witness         TEXT        PRIMARY KEY,
            delivered_size  BIGINT      NOT NULL DEFAULT 0,
            attempts        INTEGER     NOT NULL DEFAULT 0,
            last_error      TEXT        NULL,
            next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
    ])
}

#if PlatformBridge
public import AuditStore
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
    let control = ExportQueue(capacity: 1)
    let deliveries: CounterFamily
    let pending: Gauge

    /// Throws when the pipeline's primary shares no audit database (only an embedder's own primary could).
    public init(config: CheckpointWitnessConfig, context: BuildContext) throws(MissingAuditDatabase) {
        guard let database = context.resources.auditDatabase else { throw MissingAuditDatabase(component: context.id) }
        self.config = config
        self.database = database
        logger = context.logger
        deliveries = context.telemetry.counterFamily("governance_checkpoint_witness_deliveries_total", [("exporter", context.id)], varying: "result")
        pending = context.telemetry.gauge("governance_checkpoint_witness_pending", [("exporter", context.id)])
    }

    /// Checkpoints are polled every `poll_interval`: a commit does not make one.
    public func committed() {}

    public func run() async throws {
        logger.info("checkpoint_witness.started", metadata: ["url": "\(config.endpoint.url)"])
        await control.runSender(named: "checkpoint_witness", shutdownTimeout: config.endpoint.timeout) { [self] in
            WitnessSender(exporter: self).run()
        }
    }
}

/// The exporter's thread: one PostgreSQL connection, one libcurl handle.
final class WitnessSender {
    let exporter: CheckpointWitnessExporter
    let poster: GuardedPoster
    var connection: PGConnection?
    var config: CheckpointWitnessConfig { exporter.config }
    var logger: Logger { exporter.logger }

    init(exporter: CheckpointWitnessExporter) {
        self.exporter = exporter
        let token = exporter.config.bearerToken.map { ["Authorization: Bearer \($0)"] } ?? []
        poster = exporter.config.endpoint.poster(
            headers: ["Content-Type: text/plain; charset=utf-8", "User-Agent: governance-collector-checkpoint-witness"] + token,
            shouldAbort: { [control = exporter.control] in control.isPastDeadline })
    }

    func run() {
        var backoff = 0.1
        while !exporter.control.isFlushing {
            do {
                if connection == nil { connection = try exporter.database.connect(applicationName: "governance-collector checkpoint_witness") }
                if try !deliverNext() { exporter.control.sleep(config.pollInterval, untilFlush: true) }
                backoff = 0.1
            } catch {
                connection = nil
                logger.warning("checkpoint_witness.database_unavailable", metadata: ["error": "\(error)", "retry_in_s": "\(backoff)"])
                exporter.control.sleep(backoff, untilFlush: true)
                backoff = min(backoff * 2, 5)
            }
        }
    }

    /// Delivers the next checkpoint this witness lacks, if one is due; false when none is.
    private func deliverNext() throws(PGError) -> Bool {
        guard let connection else { return false }
        let witness = config.endpoint.url
        try connection.exec("BEGIN")
        do throws(PGError) {
            try connection.exec("INSERT INTO governance_witness_deliveries (witness) VALUES ($1) ON CONFLICT DO NOTHING", [witness])
            // Another collector holding the row is delivering; nothing is due during a backoff.
            guard let cursor = try connection.exec("""
                SELECT delivered_size, attempts, next_attempt_at <= now(), to_regclass('governance_checkpoints') IS NOT NULL
                FROM governance_witness_deliveries WHERE witness = $1 FOR UPDATE SKIP LOCKED
                """, [witness]).rows.first, cursor[2] == "t", cursor[3] == "t", let delivered = cursor[0] else {
                try connection.exec("COMMIT")
                return false
            }
            let next = try connection.exec("""
                SELECT tree_size, note, (SELECT count(*) FROM governance_checkpoints WHERE tree_size > $1::int8)
                FROM governance_checkpoints WHERE tree_size > $1::int8 ORDER BY tree_size LIMIT 1
                """, [delivered]).rows.first
            guard let next, let size = next[0], let note = next[1] else {
                try connection.exec("COMMIT")
                exporter.pending.record(0)
                return false
            }
            exporter.pending.record(Int(next[2] ?? "0") ?? 0)
            let attempt = (Int(cursor[1] ?? "0") ?? 0) + 1
            if let reason = HTTPSEndpoint.deliver(Array(note.utf8), headers: ["X-Governance-Checkpoint-Size: \(size)"], with: poster) {
                let delay = min(config.maxBackoff, pow(2, Double(min(attempt, 20))) / 10)
                try connection.exec("""
                    UPDATE governance_witness_deliveries SET attempts = $2, last_error = $3,
                        next_attempt_at = now() + make_interval(secs => $4::float8), updated_at = now()
                    WHERE witness = $1
                    """, [witness, String(attempt), reason, String(delay)])
                exporter.deliveries.increment("failed")
                logger.warning("checkpoint_witness.delivery_failed", metadata: [
                    "tree_size": "\(size)", "attempt": "\(attempt)", "error": "\(reason)", "retry_in_s": "\(delay)",
                ])
            } else {
                try connection.exec("""
                    UPDATE governance_witness_deliveries SET delivered_size = $2::int8, attempts = 0, last_error = NULL, updated_at = now()
                    WHERE witness = $1
                    """, [witness, size])
                exporter.deliveries.increment("sent")
                logger.info("checkpoint_witness.delivered", metadata: ["tree_size": "\(size)", "attempt": "\(attempt)"])
            }
            try connection.exec("COMMIT")
            return true
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }
}
#endif
