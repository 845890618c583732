import AuditStore
import Logging
import Pipeline

/// The loop of an exporter thread that delivers from an outbox table in PostgreSQL (budget
/// alerts, witness checkpoints): one connection, `deliverNext` again while it found something
/// due, a poll every `pollInterval` otherwise, and a reconnect with backoff while the database
/// fails; until the exporter's queue flushes.
enum OutboxPolling {
    static func run(
        _ control: ExportQueue, database: AuditDatabase, applicationName: String, pollInterval: Double,
        logger: Logger, unavailable: Logger.Message, deliverNext: (PGConnection) throws(PGError) -> Bool
    ) {
        var connection: PGConnection?
        var backoff = Backoff(initial: 0.1, maximum: 5)
        while !control.isFlushing {
            do throws(PGError) {
                if connection == nil { connection = try database.connect(applicationName: applicationName) }
                if try !deliverNext(connection!) { control.sleep(pollInterval, untilFlush: true) }
                backoff.succeeded()
            } catch {
                connection = nil
                let wait = backoff.failed()
                logger.warning(unavailable, metadata: ["error": "\(error)", "retry_in_s": "\(wait)"])
                control.sleep(wait, untilFlush: true)
            }
        }
    }
}
