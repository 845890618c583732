import DequeModule
import Foundation
import Pipeline

/// The memory queue between the pipeline and a secondary exporter's sending thread, and that
/// thread's stop signal. Bounded: when full, the oldest event is dropped (the seed's behaviour
/// for the bridge), so a slow destination costs old copies, never memory or ingest latency.
final class ExportQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue = Deque<AuditEvent>()
    private var flushDeadline: Date?
    private var woken = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds events; returns how many old ones were dropped to make room.
    func push(_ events: [AuditEvent]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        queue.append(contentsOf: events)
        let overflow = max(0, queue.count - capacity)
        if overflow > 0 { queue.removeFirst(overflow) }
        condition.signal()
        return overflow
    }

    /// The next event, waiting up to `timeout` seconds; nil on timeout or once flushing with an empty queue.
    func pop(timeout: Double) -> AuditEvent? {
        condition.lock()
        defer { condition.unlock() }
        let until = Date().addingTimeInterval(timeout)
        while queue.isEmpty && flushDeadline == nil {
            if !condition.wait(until: until) { break }
        }
        return queue.popFirst()
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
