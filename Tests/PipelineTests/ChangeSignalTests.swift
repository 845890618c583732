import Foundation
import GovernanceTesting
import Pipeline
import Synchronization
import Testing

@Suite("ChangeSignal: a sender's waits end on its own thread")
struct ChangeSignalTests {
    @Test("a broadcast ends a wait at once, a generation that moved ends it before it starts, the timeout on the clock ends it otherwise")
    func endings() async throws {
        let signal = ChangeSignal()
        let clock = TestClock()
        let before = signal.generation
        signal.broadcast()
        await signal.wait(after: before, upTo: .seconds(3600), on: clock)  // returns: the generation moved

        let waiting = Task { await signal.wait(after: signal.generation, upTo: .seconds(3600), on: clock) }
        #expect(try await eventually { clock.sleepers(dueAt: .seconds(3600)) == 1 })
        signal.broadcast()
        await waiting.value
        #expect(clock.sleepers(dueAt: .seconds(3600)) == 0, "the broadcast cancelled the wait's alarm")

        let timed = Task { await signal.wait(after: signal.generation, upTo: .seconds(5), on: clock) }
        #expect(try await eventually { clock.sleepers(dueAt: .seconds(5)) == 1 })
        clock.advance(by: .seconds(4))
        #expect(clock.sleepers(dueAt: .seconds(5)) == 1, "not before its timeout")
        clock.advance(by: .seconds(1))
        await timed.value
    }

    /// Every cooperative thread spins until the waiter has gone on: if the waiter's wake-up
    /// needed a turn on the pool, it would never come (each spinner gives up after 60 s and
    /// says so). The waiter's task prefers a `BlockingExecutor`, as a sender's does.
    @Test("a wait whose task prefers a BlockingExecutor ends while every thread of the cooperative pool is busy")
    func endsWhileThePoolIsBusy() async throws {
        let signal = ChangeSignal()
        let clock = TestClock()
        let executor = BlockingExecutor(name: "test_sender")
        let poolWidth = ProcessInfo.processInfo.activeProcessorCount
        let progress = Progress()

        let waiter = Task(executorPreference: executor) {
            await signal.wait(after: signal.generation, upTo: .seconds(1), on: clock)
            progress.wentOn.store(true, ordering: .sequentiallyConsistent)
        }
        #expect(try await eventually { clock.sleepers(dueAt: .seconds(1)) == 1 })
        let spinners = (0..<poolWidth).map { _ in
            Task.detached { () -> Bool in
                progress.spinning.withLock { $0 += 1 }
                progress.spinning.broadcast()
                let deadline = Date().addingTimeInterval(60)
                while !progress.wentOn.load(ordering: .sequentiallyConsistent) {
                    if Date() > deadline { return false }
                }
                return true
            }
        }
        // From a thread of its own: once every pool thread spins, the clock passes the timeout.
        try await offPool {
            progress.spinning.wait(until: nil, for: { $0 >= poolWidth }, then: { _ in })
            clock.advance(by: .seconds(1))
        }
        for spinner in spinners { #expect(await spinner.value, "the waiter needed the busy pool to go on") }
        await waiter.value
    }
}

/// What the spinners and the waiter tell each other.
private final class Progress: Sendable {
    /// Spinners running; the thread that moves the clock waits on it.
    let spinning = ConditionLock(0)
    let wentOn = Atomic(false)
}
