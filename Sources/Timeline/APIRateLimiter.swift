import Pipeline
import Synchronization

/// Requests per reader of the read API, as a token bucket each: `burst` at once, then `rate` a
/// second. A reader is an API key (by fingerprint) or a person signed in another way, so one
/// script cannot take the database from the others. Timed by the collector's clock.
final class APIRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var at: Double
    }

    let rate: Double
    let burst: Double
    private let started: Stopwatch
    private let buckets = Mutex<[String: Bucket]>([:])
    /// Above this many readers, full buckets (readers who have been quiet) are forgotten.
    static let remembered = 10_000

    init(rate: Double, burst: Int, clock: any Clock<Duration>) {
        (self.rate, self.burst) = (rate, Double(burst))
        started = Stopwatch(on: clock)
    }

    /// Takes one request of `reader`'s: nil when it may go on, else the whole seconds until it may.
    func take(_ reader: String) -> Int? {
        let elapsed = started.elapsed.components
        let now = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return buckets.withLock { buckets in
            var bucket = buckets[reader] ?? Bucket(tokens: burst, at: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            defer {
                buckets[reader] = bucket
                if buckets.count > Self.remembered { buckets = buckets.filter { $0.value.tokens + (now - $0.value.at) * rate < burst } }
            }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }
}
