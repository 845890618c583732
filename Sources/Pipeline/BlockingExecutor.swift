import Foundation

/// The one way this collector runs blocking C (libpq, libcurl): on threads of its own, never on
/// Swift's cooperative pool, whose few threads would otherwise stall every request. Two shapes:
///
/// - `BlockingExecutor.loop(named:)` runs a component's long-lived loop (a postgres writer, a
///   sender) on a new named thread; the calling task awaits its end without holding a thread.
/// - A `BlockingExecutor` instance is one named thread taking jobs in order, for a resource that
///   must be used serially (a libpq connection behind `PGWorker`): `run` awaits the job's result.
///   It is also a `SerialExecutor`: an actor that owns a libcurl handle or a libpq connection (a
///   sender) runs on it, so its blocking calls block only its own thread, while its waits (the
///   queue, backoff, deadlines) are awaits on the collector's clock that leave the thread idle.
///   And it is a `TaskExecutor`: the sender's task prefers it (`withTaskExecutorPreference`), so
///   a wait that ends (a continuation resumed by a broadcast or an alarm) goes on on this thread
///   directly instead of queueing behind the cooperative pool's work first.
///
/// Threads wait for work and deadlines through `ConditionLock`, whose deadlines are monotonic
/// (`ContinuousClock`), so a wall-clock step neither fires nor postpones a timeout.
public final class BlockingExecutor: SerialExecutor, TaskExecutor, Sendable {
    private typealias Job = @Sendable () -> Void
    private let jobs = ConditionLock<(queue: [Job], closed: Bool)>((queue: [], closed: false))

    /// Starts the thread; it ends when the executor is released and its last job has run.
    public init(name: String) {
        let jobs = self.jobs
        let thread = Thread {
            while let job = jobs.wait(
                until: nil, for: { !$0.queue.isEmpty || $0.closed },
                then: { state -> Job? in
                    state.queue.isEmpty ? nil : state.queue.removeFirst()
                })
            {
                job()
            }
        }
        thread.name = name
        thread.start()
    }

    deinit {
        jobs.withLock { $0.closed = true }
        jobs.broadcast()
    }

    /// Runs `body` on this executor's thread after the jobs before it; the caller suspends.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            jobs.withLock { $0.queue.append { continuation.resume(with: Result { try body() }) } }
            jobs.signal()
        }
    }

    /// Runs a job of an actor that has this executor as its own, or of a task that prefers it.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock {
            $0.queue.append { [self] in job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor()) }
        }
        jobs.signal()
    }

    /// Runs `body` on a new thread named `name` and returns when it does.
    public static func loop(named name: String, _ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                body()
                done.resume()
            }
            thread.name = name
            thread.start()
        }
    }
}

/// State shared by threads that block waiting for it to change: a lock, a condition variable
/// and the state they guard. The blocking counterpart of `Mutex` (which cannot wait); only
/// threads of a `BlockingExecutor` wait on it, never Swift tasks.
public final class ConditionLock<State>: @unchecked Sendable {
    // @unchecked: `state` is only read or written with `condition` locked.
    private let condition = NSCondition()
    private var state: State

    public init(_ state: State) {
        self.state = state
    }

    public func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// Waits until `ready(state)` or `deadline` (nil: no deadline), then runs `then` under the
    /// same lock. `ready` is checked before the first wait and after every wake-up.
    public func wait<T>(until deadline: ContinuousClock.Instant?, for ready: (State) -> Bool, then: (inout State) throws -> T) rethrows -> T {
        try wait(until: { _ in deadline }, for: ready, then: then)
    }

    /// As `wait(until:for:then:)`, with a deadline read from the state on every wake-up (one that
    /// another thread may bring forward, e.g. a shutdown deadline).
    public func wait<T>(until deadline: (State) -> ContinuousClock.Instant?, for ready: (State) -> Bool, then: (inout State) throws -> T) rethrows
        -> T
    {
        condition.lock()
        defer { condition.unlock() }
        while !ready(state) {
            guard let deadline = deadline(state) else {
                condition.wait()
                continue
            }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { break }
            // NSCondition takes a wall-clock date: derived from the monotonic time left, afresh on every wait.
            _ = condition.wait(until: Date(timeIntervalSinceNow: left.seconds))
        }
        return try then(&state)
    }

    /// Wakes one waiting thread (after a change that lets one of them go on).
    public func signal() { condition.signal() }

    /// Wakes every waiting thread (after a change all of them must see, e.g. shutdown).
    public func broadcast() { condition.broadcast() }
}

extension Duration {
    /// As a floating-point number of seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
