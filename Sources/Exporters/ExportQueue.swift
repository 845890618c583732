import CoreMetrics
import DequeModule
import Foundation
import Logging
import Pipeline
import ServiceLifecycle

/// The memory queue between the pipeline and a secondary exporter's sending thread, and that
/// thread's stop signal. Bounded: when full, the oldest event is dropped (the seed's behaviour
/// for the bridge), so a slow destination costs old copies, never memory or ingest latency.
final class ExportQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue = Deque<AuditEvent>()
    private var flushDeadline: Date?
    private var woken = false
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
            logger.warning(warning, metadata: ["max_queue_size": "\(capacity)", "dropped_total": "\(counters[.droppedQueueFull])",
                                               "similar_warnings_suppressed": "\(suppressed)", "hint": "\(hint)"])
        }
    }

    /// Runs `send` on a thread of its own until it returns; graceful shutdown (or cancellation)
    /// starts the flush, which `send` must finish by `shutdownTimeout`.
    func runSender(named name: String, shutdownTimeout: Double, _ send: @escaping @Sendable () -> Void) async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    send()
                    done.resume()
                }
                thread.name = name
                thread.start()
            }
        } onCancelOrGracefulShutdown: { [self] in
            beginFlush(deadline: Date().addingTimeInterval(shutdownTimeout))
        }
    }

    /// Adds events; returns how many old ones were dropped to make room.
    func push(_ events: [AuditEvent]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        queue.append(contentsOf: events)
        let overflow = max(0, queue.count - capacity)
        if overflow > 0 { queue.removeFirst(overflow) }
        sizeGauge?.record(queue.count)
        condition.signal()
        return overflow
    }

    /// Up to `max` events: waits up to `timeout` for the first, then `linger` more seconds for
    /// the batch to fill (none once flushing). Empty on timeout or when flushing with nothing left.
    func popBatch(max: Int, timeout: Double, linger: Double) -> [AuditEvent] {
        condition.lock()
        defer { condition.unlock() }
        let until = Date().addingTimeInterval(timeout)
        while queue.isEmpty && flushDeadline == nil {
            if !condition.wait(until: until) { break }
        }
        if !queue.isEmpty && queue.count < max && flushDeadline == nil {
            let fillUntil = Date().addingTimeInterval(linger)
            while queue.count < max && flushDeadline == nil {
                if !condition.wait(until: fillUntil) { break }
            }
        }
        let n = Swift.min(max, queue.count)
        let batch = Array(queue.prefix(n))
        queue.removeFirst(n)
        sizeGauge?.record(queue.count)
        return batch
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Removes everything still queued (shutdown); returns how many there were.
    func drain() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let n = queue.count
        queue.removeAll()
        sizeGauge?.record(0)
        return n
    }

    /// Starts shutdown: the thread keeps delivering until the queue is empty or `deadline`.
    func beginFlush(deadline: Date) {
        condition.lock()
        flushDeadline = deadline
        condition.broadcast()
        condition.unlock()
    }

    var isFlushing: Bool {
        condition.lock()
        defer { condition.unlock() }
        return flushDeadline != nil
    }

    /// Seconds left before the flush deadline (nil while running normally).
    var flushTimeLeft: Double? {
        condition.lock()
        defer { condition.unlock() }
        return flushDeadline.map { $0.timeIntervalSinceNow }
    }

    var isPastDeadline: Bool { (flushTimeLeft ?? 1) <= 0 }

    /// Wakes a waiting follower (durable mode: new events were committed).
    func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    /// Sleeps up to `seconds`; returns early on `wake()`, at the flush deadline, or (with
    /// `untilFlush`) as soon as shutdown begins.
    func sleep(_ seconds: Double, untilFlush: Bool = false) {
        condition.lock()
        defer { condition.unlock() }
        var until = Date().addingTimeInterval(seconds)
        if let flushDeadline { until = min(until, flushDeadline) }
        while !woken && !(untilFlush && flushDeadline != nil) {
            if !condition.wait(until: until) { break }
            if let flushDeadline { until = min(until, flushDeadline) }
        }
        woken = false
    }
}

/// At most one log line per key per minute; the next line says how many were folded into it.
final class CoalescedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var windows: [String: (start: Date, suppressed: Int)] = [:]
    private let interval: Double

    init(interval: Double = 60) {
        self.interval = interval
    }

    /// Returns the number of suppressed occurrences to report, or nil to stay quiet.
    func shouldLog(_ key: String, now: Date = Date()) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if let window = windows[key], now.timeIntervalSince(window.start) < interval {
            windows[key] = (window.start, window.suppressed + 1)
            return nil
        }
        let suppressed = windows[key]?.suppressed ?? 0
        windows[key] = (now, 0)
        return suppressed
    }
}

/// When a sender tries a request again: after `Retry-After` when the server gave one, else after
/// a backoff doubling from 1 s up to `maxBackoff`, and never past the budget (nil: none).
struct RetrySchedule {
    enum Outcome { case retry, outOfBudget, noTimeBeforeShutdown, interrupted }

    private var backoff: Double
    private let maxBackoff: Double
    private let giveUpAt: Date?

    init(maxBackoff: Double, budget: Double?) {
        backoff = min(1.0, maxBackoff)
        self.maxBackoff = maxBackoff
        giveUpAt = budget.map { Date().addingTimeInterval($0) }
    }

    /// Waits for the next attempt (counted in `retries`), or says why there is none.
    mutating func wait(retryAfter: Double?, queue: ExportQueue, counters: DeliveryCounters) -> Outcome {
        let delay = retryAfter ?? backoff
        backoff = min(backoff * 2, maxBackoff)
        if let giveUpAt, Date().addingTimeInterval(delay) > giveUpAt { return .outOfBudget }
        if let left = queue.flushTimeLeft, left < delay { return .noTimeBeforeShutdown }
        counters.add(.retries)
        queue.sleep(delay)
        return queue.isPastDeadline ? .interrupted : .retry
    }
}
