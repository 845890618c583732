/// The one retry schedule of every loop that retries: after each consecutive failure wait
/// `initial` seconds, doubling up to `maximum`; a success starts over.
public struct Backoff: Sendable, Equatable {
    public let initial: Double
    public let maximum: Double
    /// The wait after the next failure.
    public private(set) var next: Double

    public init(initial: Double, maximum: Double) {
        self.initial = min(initial, maximum)
        self.maximum = maximum
        next = self.initial
    }

    /// The wait after one more failure (the one after it doubles).
    public mutating func failed() -> Double {
        defer { next = min(next * 2, maximum) }
        return next
    }

    public mutating func succeeded() {
        next = initial
    }

    /// No failure since the last success.
    public var isFresh: Bool { next == initial }
}
