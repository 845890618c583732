import AuditStore
import Logging
import Pipeline

/// A sender that delivers from an outbox table in PostgreSQL (budget alerts, witness
/// checkpoints): an actor on a thread of its own (`BlockingExecutor`), which owns its
/// connection and libcurl handle, so their blocking calls block only that thread.
protocol OutboxSender: QueueSender {
    var control: ExportQueue { get }
    /// The outbox connection, opened on first use and again after it failed.
    var connection: PGConnection? { get set }
    func connect() throws(PGError) -> PGConnection
    /// Delivers the next due row; false when none is due.
    func deliverNext(_ connection: PGConnection) throws(PGError) -> Bool
}

extension OutboxSender {
    /// `deliverNext` again while it found something due, a poll every `pollInterval` otherwise,
    /// a reconnect with backoff while the database fails; until the exporter's queue flushes.
    /// The waits are on the queue's clock and hold no thread.
    func poll(every pollInterval: Double, logger: Logger, unavailable: Logger.Message) async {
        var backoff = Backoff(initial: 0.1, maximum: 5)
        while !control.isFlushing {
            do throws(PGError) {
                let open: PGConnection
                if let connection { open = connection } else { open = try connect() }
                connection = open
                let found = try deliverNext(open)
                backoff.succeeded()
                if !found { await control.sleep(pollInterval, untilFlush: true) }
            } catch {
                connection = nil
                let wait = backoff.failed()
                logger.warning(unavailable, metadata: ["error": "\(error)", "retry_in_s": "\(wait)"])
                await control.sleep(wait, untilFlush: true)
            }
        }
    }
}
