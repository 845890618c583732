import GovernanceTesting
import Testing
@testable import Timeline

/// The read API's rate per reader, on the test clock: a burst, then the rate, each reader on its own.
@Suite("read API rate limit")
struct APIRateLimiterTests {
    @Test("a reader gets its burst at once, then one read per 1/rate seconds, told how long to wait; another reader is not held back")
    func tokenBucket() {
        let clock = TestClock()
        let limiter = APIRateLimiter(rate: 0.5, burst: 3, clock: clock)
        #expect((0..<3).map { _ in limiter.take("key a") } == [nil, nil, nil])
        #expect(limiter.take("key a") == 2)
        #expect(limiter.take("key b") == nil)
        clock.advance(by: .seconds(1))
        #expect(limiter.take("key a") == 1)
        clock.advance(by: .seconds(1))
        #expect(limiter.take("key a") == nil)
        #expect(limiter.take("key a") == 2)
        // A long pause refills to the burst, no more.
        clock.advance(by: .seconds(3600))
        #expect((0..<4).map { _ in limiter.take("key a") } == [nil, nil, nil, 2])
    }
}
