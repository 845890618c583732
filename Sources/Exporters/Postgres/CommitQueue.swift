import Foundation
import Pipeline

/// Requests waiting for a transaction. Writers take everything pending (up to a cap) at once,
/// so concurrent requests share one transaction: group commit.
final class CommitQueue: @unchecked Sendable {
    struct Request {
        var events: [AuditEvent]
        var stages: [any CommitStage]
        /// Requests share a transaction only when their stages are the same (same pipeline).
        var stagesKey: String
        var resume: @Sendable (Result<[CommitResult], PipelineUnavailable>) -> Void
    }

    private let condition = NSCondition()
    private var pending: [Request] = []
    private var closed = false

    /// Fails (returns false) once closed for shutdown.
    func enqueue(_ request: Request) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        pending.append(request)
        condition.signal()
        return true
    }

    /// Waits up to `timeout` for work; returns requests totalling at most `maxEvents` events
    /// (always at least one request). Returns nil when closed and drained.
    func take(maxEvents: Int, timeout: TimeInterval) -> [Request]? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while pending.isEmpty {
            if closed { return nil }
            if !condition.wait(until: deadline) { return pending.isEmpty ? [] : takeLocked(maxEvents) }
        }
        return takeLocked(maxEvents)
    }

    private func takeLocked(_ maxEvents: Int) -> [Request] {
        var count = 0
        var taken = 0
        while taken < pending.count,
              taken == 0 || (count + pending[taken].events.count <= maxEvents && pending[taken].stagesKey == pending[0].stagesKey) {
            count += pending[taken].events.count
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        return batch
    }

    /// Removes and returns everything pending (to fail it when the database is gone).
    func drain() -> [Request] {
        condition.lock()
        defer { condition.unlock() }
        let all = pending
        pending.removeAll()
        return all
    }

    /// Waits up to `timeout` without taking work; returns true once the queue is closed.
    func pause(_ timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !closed, condition.wait(until: deadline) {}
        return closed
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
