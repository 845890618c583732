import Dispatch
import Foundation
import Synchronization

/// A libpq connection behind a serial queue of its own, for readers that are not on the hot
/// path (the timeline UI, the managed-token refresh): async callers wait without blocking
/// Swift's cooperative pool. It connects on first use and again after the connection breaks.
public final class PGWorker: @unchecked Sendable {
    private let dsn: String
    private let applicationName: String
    private let setup: String?
    private let queue: DispatchQueue
    private var connection: PGConnection? // only touched on `queue`

    /// `setup` runs once on each new connection (e.g. `SET statement_timeout = '5s'`).
    public init(dsn: String, applicationName: String, setup: String? = nil) {
        self.dsn = dsn
        self.applicationName = applicationName
        self.setup = setup
        queue = DispatchQueue(label: applicationName)
    }

    /// Runs `body` with the connection on the worker's queue.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    if self.connection?.isBroken ?? true {
                        self.connection = nil
                        let connection = try PGConnection(dsn: self.dsn, applicationName: self.applicationName)
                        if let setup = self.setup { try connection.exec(setup) }
                        self.connection = connection
                    }
                    continuation.resume(returning: try body(self.connection!))
                } catch {
                    continuation.resume(throwing: error)
                }
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
