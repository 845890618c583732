public import AuditStore
public import Config
import CoreMetrics
import Foundation
public import Logging
public import Pipeline
import ServiceLifecycle
import Synchronization

/// Settings of the `postgres` exporter.
public struct PostgresExporterConfig: Sendable {
    /// libpq connection string or URL. Env: `DATABASE_URL`. Default: empty, i.e. libpq's
    /// defaults and the `PG*` environment.
    public var dsn = ""
    /// Writer connections, each on its own thread. Default 2.
    public var connections = 2
    /// Most events in one group-commit transaction. Default 5000.
    public var maxBatchEvents = 5000
    /// Create or upgrade the schema when a connection is first made. Default true.
    public var migrate = true
    /// Seconds libpq waits to connect. Default 5.
    public var connectTimeoutSeconds = 5
    /// Longest reconnect backoff, seconds. Default 5.
    public var maxReconnectBackoff = 5.0
    /// Seconds a request waits for its commit before it is answered 503 (the commit may still
    /// land: a client's retry then gets `duplicate`). While a commit runs longer than this the
    /// exporter is not ready, so new requests get 503 at once. Default 10.
    public var commitTimeout = 10.0

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> PostgresExporterConfig {
        var c = PostgresExporterConfig()
        c.dsn = try section.string("dsn", env: "DATABASE_URL", default: "", secret: true) ?? ""
        c.connections = try section.int("connections", default: c.connections, range: 1...64)
        c.maxBatchEvents = try section.int("max_batch_events", default: c.maxBatchEvents, range: 1...100_000)
        c.migrate = try section.bool("migrate", default: c.migrate)
        c.connectTimeoutSeconds = try section.int("connect_timeout_seconds", default: c.connectTimeoutSeconds, range: 1...300)
        c.maxReconnectBackoff = try section.double("max_reconnect_backoff", default: c.maxReconnectBackoff, range: 0.05...300)
        c.commitTimeout = try section.double("commit_timeout", default: c.commitTimeout, range: 0.1...3600)
        try section.finish()
        return c
    }
}

/// The primary exporter: writes events to `governance_audit_events` by group commit. Each
/// writer thread owns one libpq connection and, whenever it is free, takes every pending
/// request into one transaction (an index lookup for already-stored event_ids, then one binary
/// `COPY` of the new events), so concurrency raises batch size instead of transaction count. A request resumes only after its transaction committed.
public final class PostgresExporter: PrimaryExporter, Sendable {
    public let config: PostgresExporterConfig
    let logger: Logger
    private let queue = CommitQueue()
    private let connectedWriters = Atomic<Int>(0)
    private let migrated = Atomic<Bool>(false)
    private let lastError = Mutex<String>("not connected yet")
    /// Start of the database call each writer is waiting on now, by writer index.
    private let callsStarted = Mutex<[Int: ContinuousClock.Instant]>([:])
    let metrics: PostgresMetrics
    /// Answers requests whose commit outlasts `commit_timeout`.
    private let deadlines: any CommitDeadlines

    /// The database this exporter writes, shared with the rest of its pipeline.
    public let database: AuditDatabase

    public init(
        config: PostgresExporterConfig, logger: Logger, telemetry: Telemetry = .disabled, id: String = "postgres",
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.config = config
        deadlines = makeCommitDeadlines(
            clock: clock, timeout: .seconds(config.commitTimeout),
            reason: "PostgreSQL did not commit within \(config.commitTimeout) s (commit_timeout); retrying is safe")
        self.logger = logger
        database = AuditDatabase(dsn: config.dsn, connectTimeoutSeconds: config.connectTimeoutSeconds, logger: logger, clock: clock)
        metrics = PostgresMetrics(telemetry, exporter: id)
    }

    public var resources: SharedResources {
        var shared = SharedResources()
        shared.provide(database)
        return shared
    }

    public var isReady: Bool {
        connectedWriters.load(ordering: .relaxed) > 0 && migrated.load(ordering: .relaxed) && stalledSince == nil
    }

    /// When the oldest database call still running (a commit or an idle ping) started, if that
    /// is longer ago than `commit_timeout` (PostgreSQL hung: a stopped server keeps its
    /// connections open and answers nothing).
    var stalledSince: ContinuousClock.Instant? {
        let started = callsStarted.withLock { $0.values.min() }
        guard let started, ContinuousClock.now - started > .seconds(config.commitTimeout) else { return nil }
        return started
    }

    public func commit(_ events: [AuditEvent], stages: [any CommitStage], stagesKey: String) async throws(PipelineUnavailable) -> [CommitResult] {
        guard isReady else {
            let reason = stalledSince != nil ? "PostgreSQL has not answered for over \(config.commitTimeout) s" : lastError.withLock { $0 }
            throw PipelineUnavailable(reason: "PostgreSQL is unavailable: \(reason)", retryAfterSeconds: 1)
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[CommitResult], PipelineUnavailable>, Never>) in
            let answer = AnswerOnce(continuation)
            let accepted = queue.enqueue(.init(events: events, stages: stages, stagesKey: stagesKey, resume: { answer.resume($0) }))
            if !accepted { return answer.resume(.failure(PipelineUnavailable(reason: "the collector is shutting down"))) }
            deadlines.arm(answer)
        }
        return try result.get()
    }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.deadlines.run() }
                    await withTaskGroup(of: Void.self) { writers in
                        for index in 0..<config.connections {
                            writers.addTask {
                                await BlockingExecutor.loop(named: "postgres-writer-\(index)") { PostgresWriter(index: index, exporter: self).loop() }
                            }
                        }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                // Receivers have stopped by now (they shut down first); writers drain what is queued.
                self.queue.close()
            }
        } onCancel: {
            // Another service failed (e.g. a port in use): the group is cancelled, not drained.
            self.queue.close()
        }
    }

    // MARK: Writer-side state shared by the threads

    func writerConnected() {
        metrics.connectedWriters.record(connectedWriters.add(1, ordering: .relaxed).newValue)
    }

    func writerDisconnected(_ error: PGError) {
        lastError.withLock { $0 = error.message }
        let remaining = connectedWriters.subtract(1, ordering: .relaxed).newValue
        metrics.connectedWriters.record(remaining)
        if remaining == 0 { failPending(error) }
    }

    func connectFailed(_ error: PGError) {
        lastError.withLock { $0 = error.message }
        if connectedWriters.load(ordering: .relaxed) == 0 { failPending(error) }
    }

    private func failPending(_ error: PGError) {
        for request in queue.drain() {
            metrics.events.increment("unavailable", by: request.events.count)
            request.resume(.failure(PipelineUnavailable(reason: "PostgreSQL is unavailable: \(error.message)")))
        }
    }

    func callStarted(writer: Int) { callsStarted.withLock { $0[writer] = .now } }
    func callEnded(writer: Int) { callsStarted.withLock { $0[writer] = nil } }

    func markMigrated() { migrated.store(true, ordering: .relaxed) }
    var isMigrated: Bool { migrated.load(ordering: .relaxed) }
    func take(timeout: TimeInterval) -> [CommitQueue.Request]? { queue.take(maxEvents: config.maxBatchEvents, timeout: timeout) }
    func pause(_ seconds: TimeInterval) -> Bool { queue.pause(seconds) }
}

/// One writer: made and run on a thread of its own (never shared, so not `Sendable`), with its
/// own connection, reconnecting with backoff.
final class PostgresWriter {
    let index: Int
    let exporter: PostgresExporter
    private var connection: PGConnection?

    init(index: Int, exporter: PostgresExporter) {
        self.index = index
        self.exporter = exporter
    }

    private var logger: Logger { exporter.logger }

    func loop() {
        var backoff = Backoff(initial: 0.05, maximum: exporter.config.maxReconnectBackoff)
        while true {
            if connection == nil {
                do {
                    try connect()
                    backoff.succeeded()
                } catch {
                    exporter.connectFailed(error)
                    // The first failure and, once the wait stops growing, every one.
                    let logged = backoff.isFresh || backoff.next >= backoff.maximum
                    let wait = backoff.failed()
                    if logged {
                        logger.warning(
                            "postgres.connect_failed", metadata: ["writer": "\(index)", "error": "\(error.message)", "retry_in_s": "\(wait)"])
                    }
                    // Leave queued work to connected writers; with none, connectFailed already failed it.
                    if exporter.pause(wait) { return }
                    continue
                }
            }
            guard let batch = exporter.take(timeout: 1.0) else {
                connection = nil
                return
            }
            if batch.isEmpty {
                ping()
                continue
            }
            write(batch)
        }
    }

    private func connect() throws(PGError) {
        let conn = try exporter.database.connect(applicationName: "governance-collector")
        if !exporter.isMigrated {
            if exporter.config.migrate {
                if try exporter.database.migrate(conn) { logger.info("postgres.migrated", metadata: ["version": "\(AuditSchema.version)"]) }
            } else if try !AuditSchema.isMigrated(conn) {
                throw PGError(
                    message: "schema is not migrated and exporters.postgres.migrate is false; run `governance-collector migrate`",
                    sqlState: nil, connectionLost: false)
            }
            exporter.markMigrated()
        }
        try conn.prepare("gc_existing", AuditRow.existingStatement)
        connection = conn
        exporter.writerConnected()
        logger.info("postgres.connected", metadata: ["writer": "\(index)"])
    }

    private func ping() {
        guard let connection else { return }
        exporter.callStarted(writer: index)
        defer { exporter.callEnded(writer: index) }
        do {
            try connection.ping()
        } catch {
            dropConnection(error)
        }
    }

    private func dropConnection(_ error: PGError) {
        connection = nil
        exporter.writerDisconnected(error)
        logger.warning("postgres.connection_lost", metadata: ["writer": "\(index)", "error": "\(error.message)"])
    }

    /// Commits a group of requests and resumes each one. A lost connection is retried once on a
    /// fresh connection (safe: inserts are idempotent by `event_id`, so a commit whose answer was
    /// lost reports `duplicate` the second time); only then do the requests get "unavailable".
    private func write(_ batch: [CommitQueue.Request]) {
        let events = batch.flatMap(\.events)
        var results: [CommitResult]?
        let started = ContinuousClock.now
        exporter.callStarted(writer: index)
        defer { exporter.callEnded(writer: index) }
        for attempt in 0..<2 where results == nil {
            guard let connection else { break }
            do {
                results = try GroupCommit.commit(events, stages: batch[0].stages, on: connection)
            } catch {
                dropConnection(error)
                if attempt == 0, (try? connect()) != nil { continue }
                break
            }
        }
        exporter.metrics.record(results, events: events.count, duration: ContinuousClock.now - started)
        var offset = 0
        for request in batch {
            let count = request.events.count
            if let results {
                request.resume(.success(Array(results[offset..<offset + count])))
            } else {
                request.resume(.failure(PipelineUnavailable(reason: "PostgreSQL connection lost before commit")))
            }
            offset += count
        }
    }
}

/// The postgres exporter's metrics (all labelled `exporter="<id>"`).
struct PostgresMetrics: Sendable {
    /// `governance_postgres_commit_duration_seconds`: one group commit, BEGIN to COMMIT.
    let commitDuration: CoreMetrics.Timer
    /// `governance_postgres_commit_batch_events`: events per group-commit transaction.
    let batchSize: Recorder
    /// `governance_postgres_events_total{result}`: stored, duplicate, rejected, unavailable.
    let events: CounterFamily
    /// `governance_postgres_connected_writers`: writer threads with a live connection.
    let connectedWriters: Gauge

    init(_ telemetry: Telemetry, exporter: String) {
        let labels = [("exporter", exporter)]
        commitDuration = telemetry.timer("governance_postgres_commit_duration_seconds", labels)
        batchSize = telemetry.histogram("governance_postgres_commit_batch_events", labels)
        events = telemetry.counterFamily("governance_postgres_events_total", labels, varying: "result")
        connectedWriters = telemetry.gauge("governance_postgres_connected_writers", labels)
        connectedWriters.record(0)
    }

    func record(_ results: [CommitResult]?, events count: Int, duration: Duration) {
        guard let results else { return events.increment("unavailable", by: count) }
        commitDuration.recordNanoseconds(duration.nanoseconds)
        batchSize.record(count)
        events.tally(results.lazy.map(\.label))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Resumes a commit request once: with its result, or with 503 when `commit_timeout` passes first.
final class AnswerOnce: Sendable {
    private typealias Answer = CheckedContinuation<Result<[CommitResult], PipelineUnavailable>, Never>
    private let continuation: Mutex<Answer?>

    init(_ continuation: CheckedContinuation<Result<[CommitResult], PipelineUnavailable>, Never>) {
        self.continuation = Mutex(continuation)
    }

    var isAnswered: Bool { continuation.withLock { $0 == nil } }

    func resume(_ result: Result<[CommitResult], PipelineUnavailable>) {
        continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }?.resume(returning: result)
    }
}
