import Pipeline
import Testing

@Suite("Backoff: the one retry schedule")
struct BackoffTests {
    @Test("waits double from the initial wait up to the maximum; a success starts over")
    func doublesAndResets() {
        var backoff = Backoff(initial: 0.1, maximum: 0.5)
        #expect(backoff.isFresh)
        #expect((0..<5).map { _ in backoff.failed() } == [0.1, 0.2, 0.4, 0.5, 0.5])
        #expect(!backoff.isFresh && backoff.next == 0.5)
        backoff.succeeded()
        #expect(backoff.isFresh && backoff.failed() == 0.1)
    }

    @Test("an initial wait above the maximum is the maximum")
    func initialCapped() {
        var backoff = Backoff(initial: 1, maximum: 0.25)
        #expect(backoff.failed() == 0.25 && backoff.failed() == 0.25)
    }
}
