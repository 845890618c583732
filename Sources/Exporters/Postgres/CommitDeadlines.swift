import DequeModule
import Pipeline
import Synchronization

/// Answers 503 to every commit request still waiting when `commit_timeout` passes, with one task
/// for all of them. A task and a Dispatch timer per request were about 4% of the single-event
/// path's CPU in a profile (docs/benchmark.md); here a request costs one append. Every request
/// has the same timeout, so deadlines come in order: the task sleeps until the oldest one, and
/// answered requests leave from the front as new ones are armed.
protocol CommitDeadlines: Sendable {
    /// Starts timing `answer`'s request.
    func arm(_ answer: AnswerOnce)
    /// Answers overdue requests until cancelled; then answers every request still waiting (its
    /// writer may be stuck in a database call), so none is left without an answer.
    func run() async
}

/// `CommitDeadlines` on `clock` (a `TestClock` in tests, so they can pass the timeout without waiting).
func makeCommitDeadlines<C: Clock>(clock: C, timeout: Duration, reason: String) -> any CommitDeadlines where C.Duration == Duration {
    ClockCommitDeadlines(clock: clock, timeout: timeout, reason: reason)
}

private final class ClockCommitDeadlines<C: Clock>: CommitDeadlines where C.Duration == Duration {
    private struct State {
        var waiting = Deque<(deadline: C.Instant, answer: AnswerOnce)>()
        /// The task's wait for a first request, while none is armed.
        var idle: CheckedContinuation<Void, Never>?
    }

    private let clock: C
    private let timeout: Duration
    private let reason: String
    private let state = Mutex(State())

    init(clock: C, timeout: Duration, reason: String) {
        self.clock = clock
        self.timeout = timeout
        self.reason = reason
    }

    func arm(_ answer: AnswerOnce) {
        let idle = state.withLock { state -> CheckedContinuation<Void, Never>? in
            // Read under the lock, so the deque stays in deadline order under concurrent arms.
            let deadline = clock.now.advanced(by: timeout)
            while let first = state.waiting.first, first.answer.isAnswered { state.waiting.removeFirst() }
            state.waiting.append((deadline, answer))
            defer { state.idle = nil }
            return state.idle
        }
        idle?.resume()
    }

    func run() async {
        defer {
            let left = state.withLock { state in
                defer { state.waiting.removeAll() }
                return state.waiting.map(\.answer)
            }
            let stopped = PipelineUnavailable(reason: "the collector stopped before PostgreSQL committed; retrying is safe")
            for answer in left { answer.resume(.failure(stopped)) }
        }
        while !Task.isCancelled {
            guard let deadline = await oldestDeadline() else { return }
            do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
            let now = clock.now
            let overdue = state.withLock { state -> [AnswerOnce] in
                var overdue: [AnswerOnce] = []
                while let first = state.waiting.first, first.deadline <= now || first.answer.isAnswered {
                    state.waiting.removeFirst()
                    overdue.append(first.answer)
                }
                return overdue
            }
            for answer in overdue { answer.resume(.failure(PipelineUnavailable(reason: reason))) }
        }
    }

    /// The oldest armed request's deadline, waiting for one to be armed; nil when cancelled.
    private func oldestDeadline() async -> C.Instant? {
        while !Task.isCancelled {
            let deadline = state.withLock { state in
                while let first = state.waiting.first, first.answer.isAnswered { state.waiting.removeFirst() }
                return state.waiting.first?.deadline
            }
            if let deadline { return deadline }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if !state.waiting.isEmpty || Task.isCancelled { return true }
                        state.idle = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                state.withLock { state in
                    defer { state.idle = nil }
                    return state.idle
                }?.resume()
            }
        }
        return nil
    }
}
