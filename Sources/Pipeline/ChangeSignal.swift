import Synchronization

/// Tasks waiting for some state to change, without a thread: a waiter reads `generation`, checks
/// the state, and if it must wait calls `wait(after:upTo:on:)`, which returns at once when the
/// state changed in between (the generation moved), else at the next `broadcast()`, when
/// `timeout` passes on `clock`, or on cancellation. The async counterpart of a condition variable.
///
/// The waiter is resumed by whoever ends the wait (the broadcaster, the clock's alarm, the
/// canceller), never by a task of its own: a sender whose task prefers its own thread
/// (`BlockingExecutor`) goes on there even while Swift's cooperative pool is busy.
public final class ChangeSignal: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, Never>
        var cancelAlarm: (@Sendable () -> Void)?
    }

    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Read before checking the state a waiter waits on.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// After changing the state: wakes every waiter.
    public func broadcast() {
        let waiters = state.withLock { s in
            s.generation &+= 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters {
            waiter.cancelAlarm?()
            waiter.continuation.resume()
        }
    }

    /// Waits for a `broadcast()` after `generation`, at most `timeout` on `clock`.
    public func wait(after generation: UInt64, upTo timeout: Duration, on clock: any Clock<Duration>) async {
        guard timeout > .zero else { return }
        let id = state.withLock { s in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = state.withLock { s -> Bool in
                    if s.generation != generation || Task.isCancelled { return false }
                    s.waiters[id] = Waiter(continuation: continuation)
                    return true
                }
                guard waiting else { return continuation.resume() }
                let cancelAlarm = alarm(after: timeout, on: clock) { [self] in wake(id) }
                // Ended already (a broadcast or the alarm came first): the alarm is not needed.
                let ended = state.withLock { s -> Bool in
                    guard s.waiters[id] != nil else { return true }
                    s.waiters[id]?.cancelAlarm = cancelAlarm
                    return false
                }
                if ended { cancelAlarm() }
            }
        } onCancel: {
            wake(id)
        }
    }

    /// Ends one wait (its timeout, or its task's cancellation).
    private func wake(_ id: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        waiter.cancelAlarm?()
        waiter.continuation.resume()
    }
}
