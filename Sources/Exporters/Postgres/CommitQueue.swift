import Pipeline

/// Requests waiting for a transaction. Writers take everything pending (up to a cap) at once,
/// so concurrent requests share one transaction: group commit.
final class CommitQueue: Sendable {
    struct Request {
        var events: [AuditEvent]
        var stages: [any CommitStage]
        /// Requests share a transaction only when their stages are the same (same pipeline).
        var stagesKey: String
        var resume: @Sendable (Result<[CommitResult], PipelineUnavailable>) -> Void
    }

    private let state = ConditionLock<(pending: [Request], closed: Bool)>((pending: [], closed: false))

    /// Fails (returns false) once closed for shutdown.
    func enqueue(_ request: Request) -> Bool {
        let accepted = state.withLock { state in
            guard !state.closed else { return false }
            state.pending.append(request)
            return true
        }
        if accepted { state.signal() }
        return accepted
    }

    /// Waits up to `timeout` seconds for work; returns requests totalling at most `maxEvents`
    /// events (at least one request, or none on timeout). Returns nil when closed and drained.
    func take(maxEvents: Int, timeout: Double) -> [Request]? {
        state.wait(until: .now + .seconds(timeout), for: { !$0.pending.isEmpty || $0.closed }) { state in
            if state.pending.isEmpty { return state.closed ? nil : [] }
            return Self.takeGroup(&state.pending, maxEvents: maxEvents)
        }
    }

    /// The oldest requests while they share the first one's `stagesKey`, up to `maxEvents` in all.
    private static func takeGroup(_ pending: inout [Request], maxEvents: Int) -> [Request] {
        var count = 0
        var taken = 0
        while taken < pending.count,
            taken == 0 || (count + pending[taken].events.count <= maxEvents && pending[taken].stagesKey == pending[0].stagesKey)
        {
            count += pending[taken].events.count
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        return batch
    }

    /// Removes and returns everything pending (to fail it when the database is gone).
    func drain() -> [Request] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
    }

    /// Waits up to `timeout` seconds without taking work; returns true once the queue is closed.
    func pause(_ timeout: Double) -> Bool {
        state.wait(until: .now + .seconds(timeout), for: \.closed) { $0.closed }
    }

    func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
    }
}
