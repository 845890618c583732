import Pipeline
import Synchronization

/// A libpq connection on a `BlockingExecutor` of its own, for readers that are not on the hot
/// path (the timeline UI, the managed-token refresh): async callers wait without blocking
/// Swift's cooperative pool. It connects on first use and again after the connection breaks.
public final class PGWorker: Sendable {
    private let dsn: String
    private let applicationName: String
    private let setup: String?
    private let executor: BlockingExecutor
    /// Touched only by jobs on `executor`, one at a time; the mutex makes that checkable.
    private let connection = Mutex<PGConnection?>(nil)

    /// `setup` runs once on each new connection (e.g. `SET statement_timeout = '5s'`).
    public init(dsn: String, applicationName: String, setup: String? = nil) {
        self.dsn = dsn
        self.applicationName = applicationName
        self.setup = setup
        executor = BlockingExecutor(name: applicationName)
    }

    /// Runs `body` with the connection on the worker's thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await executor.run { [self] in
            try connection.withLock { connection in
                if connection?.isBroken ?? true {
                    connection = nil
                    let fresh = try PGConnection(dsn: dsn, applicationName: applicationName)
                    if let setup { try fresh.exec(setup) }
                    connection = fresh
                }
                return try body(connection!)
            }
        }
    }
}

/// A few `PGWorker`s taken in turn, so one slow query does not hold up every page.
public final class PGWorkerPool: Sendable {
    private let workers: [PGWorker]
    private let next = Atomic<Int>(0)

    public init(dsn: String, applicationName: String, size: Int, setup: String? = nil) {
        workers = (0..<max(1, size)).map { PGWorker(dsn: dsn, applicationName: "\(applicationName)-\($0)", setup: setup) }
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await workers[next.add(1, ordering: .relaxed).oldValue % workers.count].run(body)
    }
}
