import Pipeline
import Synchronization

/// A clock that moves only when a test says so, for deadlines the test wants to pass without
/// waiting for them (as swift-otel's TestClock does for its batch processor). Sleepers (and
/// alarms) wake when `advance(by:)` takes `now` past their deadline; a sleeper also on cancel.
package final class TestClock: AlarmClock, Sendable {
    package struct Instant: InstantProtocol {
        package var offset: Duration
        package func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        package func duration(to other: Instant) -> Duration { other.offset - offset }
        package static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct Sleeper {
        var deadline: Instant
        /// Called with nil when the clock passes the deadline, with the error on cancellation.
        var wake: @Sendable ((any Error)?) -> Void
    }

    private let state = Mutex<(now: Instant, sleepers: [UInt64: Sleeper], nextID: UInt64)>((Instant(offset: .zero), [:], 0))

    package init() {}

    package var now: Instant { state.withLock { $0.now } }
    package var minimumResolution: Duration { .zero }

    /// Sleepers waiting now (a test waits for this before it advances the clock).
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Sleepers waiting now for exactly `deadline` after the clock's start: a test that knows
    /// which timer it means (the commit deadline, a refresh) waits for that one, not for whichever
    /// other loop of the collector happens to be asleep.
    package func sleepers(dueAt deadline: Duration) -> Int {
        state.withLock { $0.sleepers.values.count { $0.deadline.offset == deadline } }
    }

    package func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let due = state.withLock { state -> Bool in
                    if Task.isCancelled || deadline <= state.now { return true }
                    state.sleepers[id] = Sleeper(deadline: deadline) { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                    }
                    return false
                }
                if due { Task.isCancelled ? continuation.resume(throwing: CancellationError()) : continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.wake(CancellationError())
        }
    }

    /// An alarm is a sleeper too (`sleepers(dueAt:)` counts it) whose wake calls `fire`.
    package func alarm(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = state.withLock { state -> UInt64? in
            state.nextID += 1
            let deadline = state.now.advanced(by: delay)
            guard deadline > state.now else { return nil }
            state.sleepers[state.nextID] = Sleeper(deadline: deadline) { error in if error == nil { fire() } }
            return state.nextID
        }
        guard let id else {
            fire()
            return {}
        }
        return { [self] in _ = state.withLock { $0.sleepers.removeValue(forKey: id) } }
    }

    /// Moves time on by `duration` and wakes every sleeper whose deadline it reached.
    package func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers[id] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.wake(nil) }
    }
}
