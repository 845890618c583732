import CoreMetrics
import Synchronization

/// One collector-wide budget of memory for requests in flight: bodies being read, decoded, or
/// waiting for their commit, across every receiver. A receiver reserves a request's cost
/// (its Content-Length times `bytesPerBodyByte`) before reading the body; when the budget is
/// spent the request is refused at once (503 / RESOURCE_EXHAUSTED with a retry delay), so a
/// burst of large bodies costs the collector at most the budget rather than the host's memory,
/// and work already admitted always completes. Requests of up to 1 MiB of body (single events,
/// small exports) keep a quarter of the budget that larger ones cannot take, so a client holding
/// maximum-size bodies open cannot starve them. A large request is admitted when no other is in
/// flight, whatever its size, so one larger than the budget is never refused forever.
public final class InFlightBudget: Sendable {
    /// `service.in_flight_limit_mib`, in bytes.
    public let limit: Int
    /// Memory a request takes per byte of body while parsed, decoded into events, committed and
    /// answered: measured 8.2× for a 14.8 MB NDJSON batch of 9,000 events (peak RSS 48 → 170 MiB).
    public static let bytesPerBodyByte = 8
    /// After a burst glibc keeps freed memory in its arenas (143 MiB still resident after that
    /// batch); once the budget is idle again after holding this much, `Allocator.trim` returns it.
    static let trimAfter = 32 << 20
    private let trimming = Atomic<Bool>(false)
    private let heldSinceTrim = Atomic<Int>(0)
    private let used = Mutex(Usage())
    /// The largest cost that counts as small: a 1 MiB body.
    static let smallCost = (1 << 20) * bytesPerBodyByte

    struct Usage {
        var small = 0, large = 0
        /// What each owner's transport buffers hold (included in `large`).
        var buffers: [String: Int] = [:]
        var total: Int { small + large }

        /// Whether `cost` more fits for a request of this class.
        func admits(_ cost: Int, large isLarge: Bool, limit: Int) -> Bool {
            let quarter = limit / 4
            if isLarge { return large == 0 || (large + cost <= limit - quarter && total + cost <= limit) }
            return small + cost <= quarter || total + cost <= limit
        }

        /// Whether `owner` may hold `cost` more in transport buffers: a quarter of the budget
        /// at most, unless it holds none.
        func admitsBuffer(_ cost: Int, owner: String, limit: Int) -> Bool {
            let held = buffers[owner, default: 0]
            return (held == 0 || held + cost <= limit / 4) && admits(cost, large: true, limit: limit)
        }

        mutating func add(_ delta: Int, large isLarge: Bool, owner: String?) {
            if isLarge { large += delta } else { small += delta }
            if let owner {
                let held = buffers[owner, default: 0] + delta
                buffers[owner] = held > 0 ? held : nil
            }
        }
    }
    private let inFlight: Gauge
    private let refused: Counter

    public init(limit: Int, telemetry: Telemetry = .disabled) {
        self.limit = limit
        inFlight = telemetry.gauge("governance_in_flight_bytes")
        refused = telemetry.counter("governance_in_flight_refused_total")
        telemetry.gauge("governance_in_flight_limit_bytes").record(limit)
    }

    /// No limit; for components built outside a collector.
    public static var unlimited: InFlightBudget { InFlightBudget(limit: .max) }

    /// Bytes reserved now.
    public var reserved: Int { used.withLock { $0.total } }

    /// Reserves the cost of a body of `bodyBytes`, or nil (counted) when that would exceed the budget.
    public func reserve(forBody bodyBytes: Int) -> Reservation? {
        let bytes = Self.cost(ofBody: bodyBytes)
        return reserve(bytes: bytes, large: bytes > Self.smallCost)
    }

    /// Reserves a buffer's worth of memory that a transport fills before any handler runs (a
    /// gRPC stream's inflated message) for `owner` (the workflow whose token opened it), as a
    /// large request: the small requests' quarter stays theirs, and one owner holds at most a
    /// quarter of the budget in such buffers, so one tenant's open streams cannot take what
    /// every other tenant's exports need. With nothing else in flight it is admitted whatever its size.
    public func reserve(buffer bytes: Int, owner: String) -> Reservation? {
        reserve(bytes: bytes, large: true, owner: owner)
    }

    private func reserve(bytes: Int, large isLarge: Bool, owner: String? = nil) -> Reservation? {
        let now: Int? = used.withLock { used in
            let admitted =
                if let owner { used.admitsBuffer(bytes, owner: owner, limit: limit) } else { used.admits(bytes, large: isLarge, limit: limit) }
            guard admitted else { return nil }
            used.add(bytes, large: isLarge, owner: owner)
            return used.total
        }
        guard let now else {
            refused.increment()
            return nil
        }
        inFlight.record(now)
        heldSinceTrim.max(now, ordering: .relaxed)
        return Reservation(budget: self, bytes: bytes, large: isLarge, owner: owner)
    }

    static func cost(ofBody bodyBytes: Int) -> Int {
        max(0, bodyBytes).multipliedReportingOverflow(by: bytesPerBodyByte).partialValue
    }

    /// Gives freed heap pages back to the system once the budget is idle after a burst, on a
    /// background thread (it takes a few milliseconds on a large heap).
    private func trimIfIdle(_ now: Int) {
        guard now == 0, heldSinceTrim.load(ordering: .relaxed) >= Self.trimAfter,
            !trimming.exchange(true, ordering: .acquiring)
        else { return }
        heldSinceTrim.store(0, ordering: .relaxed)
        // Half a second later, so the request's answer and its events are freed too.
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(500))
            await BlockingExecutor.loop(named: "malloc-trim") { [self] in
                if reserved == 0 { Allocator.trim() }
                trimming.store(false, ordering: .releasing)
            }
        }
    }

    /// Changes a reservation of this class from `held` to `held + delta`; growing must fit
    /// beside the others in flight as a new request of that size would.
    fileprivate func adjust(from held: Int, by delta: Int, large isLarge: Bool, owner: String?) -> Bool {
        let now: Int? = used.withLock { used in
            if delta > 0 {
                var others = used
                others.add(-held, large: isLarge, owner: owner)
                let admitted =
                    if let owner { others.admitsBuffer(held + delta, owner: owner, limit: limit) } else {
                        others.admits(held + delta, large: isLarge, limit: limit)
                    }
                guard admitted else { return nil }
            }
            used.add(delta, large: isLarge, owner: owner)
            return used.total
        }
        guard let now else {
            refused.increment()
            return false
        }
        inFlight.record(now)
        if delta < 0 { trimIfIdle(now) } else { heldSinceTrim.max(now, ordering: .relaxed) }
        return true
    }

    /// Bytes held by one request until it is answered; released when it ends (or is freed).
    public final class Reservation: Sendable {
        private let budget: InFlightBudget
        private let bytes: Mutex<Int>
        private let large: Bool
        private let owner: String?

        fileprivate init(budget: InFlightBudget, bytes: Int, large: Bool, owner: String?) {
            self.budget = budget
            self.bytes = Mutex(bytes)
            self.large = large
            self.owner = owner
        }

        /// Changes the reservation to the cost of `bodyBytes` (a gzip body grown by
        /// decompression, a chunked body smaller than its reserved maximum); false, unchanged,
        /// when growing would exceed the budget.
        public func resize(forBody bodyBytes: Int) -> Bool {
            let total = InFlightBudget.cost(ofBody: bodyBytes)
            return bytes.withLock { held in
                guard budget.adjust(from: held, by: total - held, large: large, owner: owner) else { return false }
                held = total
                return true
            }
        }

        public func release() {
            let held = bytes.withLock { held in
                defer { held = 0 }
                return held
            }
            if held > 0 { _ = budget.adjust(from: held, by: -held, large: large, owner: owner) }
        }

        deinit { release() }
    }
}
