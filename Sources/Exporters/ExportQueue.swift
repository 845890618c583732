import CoreMetrics
import DequeModule
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization

/// The memory queue between the pipeline and a secondary exporter's sender, and the sender's
/// stop signal. Bounded: when full, the oldest event is dropped (the seed's behaviour for the
/// bridge), so a slow destination costs old copies, never memory or ingest latency. Its waits
/// (for events, between retries, the flush deadline) are awaits on the collector's clock: a
/// sender waiting here holds no thread, and a test moves its time with a `TestClock`.
final class ExportQueue: Sendable {
    private struct State {
        var queue = Deque<AuditEvent>()
        /// Set when shutdown begins: how long the flush may take, timed from then.
        var flush: (started: Stopwatch, timeout: Duration)?
        var woken = false
    }

    private let state = Mutex(State())
    /// Broadcast on every change a sender waits for: events, the flush, a wake.
    private let changed = ChangeSignal()
    let clock: any Clock<Duration>
    let capacity: Int
    private let overflowLog = CoalescedLog()
    /// Follows `count` for `/metrics`.
    private let sizeGauge: Gauge?

    init(capacity: Int, counters: DeliveryCounters? = nil, clock: any Clock<Duration>) {
        self.capacity = capacity
        self.clock = clock
        sizeGauge = counters?.queueSize
        counters?.queueCapacity.record(capacity)
        sizeGauge?.record(0)
    }

    /// Adds events; old ones dropped for room are counted as `dropped_queue_full` and warned
    /// about at most once a minute (`warning`, with `hint`).
    func enqueue(_ events: [AuditEvent], counters: DeliveryCounters, logger: Logger, warning: Logger.Message, hint: String) {
        let dropped = push(events)
        guard dropped > 0 else { return }
        counters.add(.droppedQueueFull, dropped)
        if let suppressed = overflowLog.shouldLog("queue_full") {
            logger.warning(
                warning,
                metadata: [
                    "max_queue_size": "\(capacity)", "dropped_total": "\(counters[.droppedQueueFull])",
                    "similar_warnings_suppressed": "\(suppressed)", "hint": "\(hint)",
                ])
        }
    }

    /// Runs `sender` until it returns; graceful shutdown (or cancellation) starts the flush,
    /// which the sender must finish within `shutdownTimeout`. Its task prefers the sender's
    /// thread, so every wait of the sender ends there without a turn on the cooperative pool.
    func run(_ sender: some QueueSender, shutdownTimeout: Double) async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withTaskExecutorPreference(sender.executor) { await sender.run() }
        } onCancelOrGracefulShutdown: { [self] in
            beginFlush(timeout: .seconds(shutdownTimeout))
        }
    }

    /// Adds events; returns how many old ones were dropped to make room.
    func push(_ events: [AuditEvent]) -> Int {
        let overflow = state.withLock { state in
            state.queue.append(contentsOf: events)
            let overflow = max(0, state.queue.count - capacity)
            if overflow > 0 { state.queue.removeFirst(overflow) }
            sizeGauge?.record(state.queue.count)
            return overflow
        }
        changed.broadcast()
        return overflow
    }

    /// Up to `max` events: waits up to `timeout` seconds for the first, then `linger` more for
    /// the batch to fill (none once flushing). Empty on timeout or when flushing with nothing left.
    func popBatch(max: Int, timeout: Double, linger: Double) async -> [AuditEvent] {
        let first = await wait(upTo: timeout) { !$0.queue.isEmpty || $0.flush != nil }
        if first, state.withLock({ $0.queue.count < max && $0.flush == nil }) {
            _ = await wait(upTo: linger) { $0.queue.count >= max || $0.flush != nil }
        }
        return state.withLock { state in
            let n = Swift.min(max, state.queue.count)
            let batch = Array(state.queue.prefix(n))
            state.queue.removeFirst(n)
            sizeGauge?.record(state.queue.count)
            return batch
        }
    }

    var count: Int { state.withLock { $0.queue.count } }

    /// Removes everything still queued (shutdown); returns how many there were.
    func drain() -> Int {
        state.withLock { state in
            let n = state.queue.count
            state.queue.removeAll()
            sizeGauge?.record(0)
            return n
        }
    }

    /// Starts shutdown: the sender keeps delivering until the queue is empty or `timeout` has passed.
    func beginFlush(timeout: Duration) {
        state.withLock { $0.flush = (Stopwatch(on: clock), timeout) }
        changed.broadcast()
    }

    var isFlushing: Bool { state.withLock { $0.flush != nil } }

    /// Seconds left before the flush deadline (nil while running normally).
    var flushTimeLeft: Double? { state.withLock { $0.flush.map { ($0.timeout - $0.started.elapsed).seconds } } }

    var isPastDeadline: Bool { (flushTimeLeft ?? 1) <= 0 }

    /// Wakes a waiting follower (durable mode: new events were committed).
    func wake() {
        state.withLock { $0.woken = true }
        changed.broadcast()
    }

    /// Waits up to `seconds`; returns early on `wake()`, at the flush deadline, or (with
    /// `untilFlush`) as soon as shutdown begins.
    func sleep(_ seconds: Double, untilFlush: Bool = false) async {
        _ = await wait(upTo: seconds) { $0.woken || (untilFlush && $0.flush != nil) }
        state.withLock { $0.woken = false }
    }

    /// Waits until `ready` holds (true) or `seconds` pass on the clock, or the flush deadline (false).
    private func wait(upTo seconds: Double, for ready: (State) -> Bool) async -> Bool {
        let started = Stopwatch(on: clock)
        while true {
            let generation = changed.generation
            if state.withLock({ ready($0) }) { return true }
            let untilFlushEnds = flushTimeLeft.map { Duration.seconds($0) } ?? .seconds(seconds)
            let left = min(Duration.seconds(seconds) - started.elapsed, untilFlushEnds)
            if left <= .zero { return false }
            await changed.wait(after: generation, upTo: left, on: clock)
        }
    }
}

/// A secondary exporter's sender: an actor on a thread of its own (`BlockingExecutor`), which
/// owns its libcurl handle (and a libpq connection when it reads a table), so their blocking
/// calls block only that thread; it delivers until its queue's flush ends.
protocol QueueSender: Actor {
    nonisolated var executor: BlockingExecutor { get }
    func run() async
}

/// At most one log line per key per minute; the next line says how many were folded into it.
final class CoalescedLog: Sendable {
    private let windows = Mutex<[String: (start: ContinuousClock.Instant, suppressed: Int)]>([:])
    private let interval: Duration

    init(interval: Double = 60) {
        self.interval = .seconds(interval)
    }

    /// Returns the number of suppressed occurrences to report, or nil to stay quiet.
    func shouldLog(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        windows.withLock { windows in
            if let window = windows[key], window.start.duration(to: now) < interval {
                windows[key] = (window.start, window.suppressed + 1)
                return nil
            }
            let suppressed = windows[key]?.suppressed ?? 0
            windows[key] = (now, 0)
            return suppressed
        }
    }
}

/// When a sender tries a request again: after `Retry-After` when the server gave one, else after
/// a backoff doubling from 1 s up to `maxBackoff`, and never past the budget (nil: none), all
/// on the queue's clock.
///
/// The budget counts what the destination cost: the attempts' time and the waits this schedule
/// asked for. It does not count how late a wait resumed: a busy collector (its tasks queued
/// behind ingest) would otherwise spend an event's budget on its own delay and drop the event
/// after fewer attempts than the operator configured.
struct RetrySchedule {
    enum Outcome { case retry, outOfBudget, noTimeBeforeShutdown, interrupted }

    private var backoff: Backoff
    private let budget: Duration?
    private var spent = Duration.zero
    /// Since the current attempt began (the schedule's start, or the end of the last wait).
    private var attempt: Stopwatch

    init(maxBackoff: Double, budget: Double?, clock: any Clock<Duration>) {
        backoff = Backoff(initial: 1, maximum: maxBackoff)
        self.budget = budget.map { .seconds($0) }
        attempt = Stopwatch(on: clock)
    }

    /// Waits for the next attempt (counted in `retries`), or says why there is none.
    mutating func wait(retryAfter: Double?, queue: ExportQueue, counters: DeliveryCounters) async -> Outcome {
        spent += attempt.elapsed
        let next = backoff.failed()
        let delay = retryAfter ?? next
        if let budget, spent + .seconds(delay) > budget { return .outOfBudget }
        if let left = queue.flushTimeLeft, left < delay { return .noTimeBeforeShutdown }
        counters.add(.retries)
        spent += .seconds(delay)
        await queue.sleep(delay)
        attempt = Stopwatch(on: queue.clock)
        return queue.isPastDeadline ? .interrupted : .retry
    }
}
