import CoreMetrics
import DequeModule
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization

/// The memory queue between the pipeline and a secondary exporter's sending thread, and that
/// thread's stop signal. Bounded: when full, the oldest event is dropped (the seed's behaviour
/// for the bridge), so a slow destination costs old copies, never memory or ingest latency.
/// Its waits are monotonic (`ConditionLock`).
final class ExportQueue: Sendable {
    private struct State {
        var queue = Deque<AuditEvent>()
        var flushDeadline: ContinuousClock.Instant?
        var woken = false
    }

    private let state = ConditionLock(State())
    let capacity: Int
    private let overflowLog = CoalescedLog()
    /// Follows `count` for `/metrics`.
    private let sizeGauge: Gauge?

    init(capacity: Int, counters: DeliveryCounters? = nil) {
        self.capacity = capacity
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

    /// Runs `send` on a thread of its own until it returns; graceful shutdown (or cancellation)
    /// starts the flush, which `send` must finish by `shutdownTimeout`.
    func runSender(named name: String, shutdownTimeout: Double, _ send: @escaping @Sendable () -> Void) async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await BlockingExecutor.loop(named: name, send)
        } onCancelOrGracefulShutdown: { [self] in
            beginFlush(deadline: .now + .seconds(shutdownTimeout))
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
        state.signal()
        return overflow
    }

    /// Up to `max` events: waits up to `timeout` seconds for the first, then `linger` more for
    /// the batch to fill (none once flushing). Empty on timeout or when flushing with nothing left.
    func popBatch(max: Int, timeout: Double, linger: Double) -> [AuditEvent] {
        let first = state.wait(until: .now + .seconds(timeout), for: { !$0.queue.isEmpty || $0.flushDeadline != nil }) { $0.queue.count }
        if first > 0 && first < max {
            state.wait(until: .now + .seconds(linger), for: { $0.queue.count >= max || $0.flushDeadline != nil }) { _ in }
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

    /// Starts shutdown: the thread keeps delivering until the queue is empty or `deadline`.
    func beginFlush(deadline: ContinuousClock.Instant) {
        state.withLock { $0.flushDeadline = deadline }
        state.broadcast()
    }

    var isFlushing: Bool { state.withLock { $0.flushDeadline != nil } }

    /// Seconds left before the flush deadline (nil while running normally).
    var flushTimeLeft: Double? { state.withLock { $0.flushDeadline.map { ContinuousClock.now.duration(to: $0).seconds } } }

    var isPastDeadline: Bool { (flushTimeLeft ?? 1) <= 0 }

    /// Wakes a waiting follower (durable mode: new events were committed).
    func wake() {
        state.withLock { $0.woken = true }
        state.signal()
    }

    /// Sleeps up to `seconds`; returns early on `wake()`, at the flush deadline, or (with
    /// `untilFlush`) as soon as shutdown begins.
    func sleep(_ seconds: Double, untilFlush: Bool = false) {
        let until = ContinuousClock.now + .seconds(seconds)
        state.wait(until: { min(until, $0.flushDeadline ?? until) }, for: { $0.woken || (untilFlush && $0.flushDeadline != nil) }) {
            $0.woken = false
        }
    }
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
/// a backoff doubling from 1 s up to `maxBackoff`, and never past the budget (nil: none).
struct RetrySchedule {
    enum Outcome { case retry, outOfBudget, noTimeBeforeShutdown, interrupted }

    private var backoff: Backoff
    private let giveUpAt: ContinuousClock.Instant?

    init(maxBackoff: Double, budget: Double?) {
        backoff = Backoff(initial: 1, maximum: maxBackoff)
        giveUpAt = budget.map { .now + .seconds($0) }
    }

    /// Waits for the next attempt (counted in `retries`), or says why there is none.
    mutating func wait(retryAfter: Double?, queue: ExportQueue, counters: DeliveryCounters) -> Outcome {
        let next = backoff.failed()
        let delay = retryAfter ?? next
        if let giveUpAt, .now + .seconds(delay) > giveUpAt { return .outOfBudget }
        if let left = queue.flushTimeLeft, left < delay { return .noTimeBeforeShutdown }
        counters.add(.retries)
        queue.sleep(delay)
        return queue.isPastDeadline ? .interrupted : .retry
    }
}
