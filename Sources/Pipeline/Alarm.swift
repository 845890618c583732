import Foundation

/// A clock that can call a function at a deadline from a thread of its own, without a task.
///
/// Why: a sender waits on its own thread (`BlockingExecutor`), and a task's sleep wakes through
/// Swift's cooperative pool. When that pool is busy (two threads here, full of request work), a
/// 50 ms backoff resumed seconds late; an alarm resumes the waiter directly on the sender's thread.
public protocol AlarmClock: Clock where Duration == Swift.Duration {
    /// Calls `fire` once `delay` has passed on this clock; the returned function cancels it
    /// (`fire` may still run if it was already due).
    func alarm(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> @Sendable () -> Void
}

/// `fire` after `delay` on `clock`: by its alarm when it has one, else from a task that sleeps.
public func alarm(after delay: Duration, on clock: any Clock<Duration>, _ fire: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
    if let alarms = clock as? any AlarmClock { return alarms.alarm(after: delay, fire) }
    let task = Task {
        guard (try? await clock.sleep(for: delay)) != nil else { return }
        fire()
    }
    return { task.cancel() }
}

extension ContinuousClock: AlarmClock {
    public func alarm(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        AlarmThread.shared.schedule(at: now.advanced(by: delay), fire)
    }
}

/// The one thread that fires the monotonic clock's alarms, in deadline order.
final class AlarmThread: Sendable {
    private struct Pending {
        var deadline: ContinuousClock.Instant
        var fire: @Sendable () -> Void
    }

    static let shared = AlarmThread()
    private let state = ConditionLock<(pending: [UInt64: Pending], nextID: UInt64)>(([:], 0))

    private init() {
        let state = self.state
        let thread = Thread {
            while true {
                let due = state.wait(
                    until: { $0.pending.values.lazy.map(\.deadline).min() },
                    for: { $0.pending.values.contains { $0.deadline <= .now } },
                    then: { state -> [Pending] in
                        let now = ContinuousClock.now
                        let due = state.pending.filter { $0.value.deadline <= now }
                        for id in due.keys { state.pending[id] = nil }
                        return due.values.sorted { $0.deadline < $1.deadline }
                    })
                for alarm in due { alarm.fire() }
            }
        }
        thread.name = "alarms"
        thread.start()
    }

    func schedule(at deadline: ContinuousClock.Instant, _ fire: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.pending[state.nextID] = Pending(deadline: deadline, fire: fire)
            return state.nextID
        }
        state.signal()
        return { [state] in _ = state.withLock { $0.pending.removeValue(forKey: id) } }
    }
}
