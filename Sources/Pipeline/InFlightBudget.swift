import CoreMetrics
import Synchronization

/// One collector-wide budget of request bytes in flight: bodies being read, decoded, or
/// waiting for their commit, across every receiver. A receiver reserves a request's size
/// (its Content-Length) before reading the body; when the budget is spent the request is
/// refused at once (503 / RESOURCE_EXHAUSTED with a retry delay), so a burst of large bodies
/// costs the collector at most the budget rather than the host's memory, and work already
/// admitted always completes. A request is admitted alone whatever its size, so one larger
/// than the budget is never refused forever.
public final class InFlightBudget: Sendable {
    /// `service.in_flight_limit_mib`, in bytes.
    public let limit: Int
    private let used = Mutex(0)
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
    public var reserved: Int { used.withLock { $0 } }

    /// Reserves `bytes`, or nil (counted) when that would exceed the budget.
    public func reserve(_ bytes: Int) -> Reservation? {
        let bytes = max(0, bytes)
        let now: Int? = used.withLock { used in
            guard used == 0 || bytes <= limit - used else { return nil }
            used += bytes
            return used
        }
        guard let now else {
            refused.increment()
            return nil
        }
        inFlight.record(now)
        return Reservation(budget: self, bytes: bytes)
    }

    fileprivate func adjust(by delta: Int, allowOver: Bool) -> Bool {
        let now: Int? = used.withLock { used in
            guard allowOver || delta <= 0 || delta <= limit - used else { return nil }
            used += delta
            return used
        }
        guard let now else {
            refused.increment()
            return false
        }
        inFlight.record(now)
        return true
    }

    /// Bytes held by one request until it is answered; released when it ends (or is freed).
    public final class Reservation: Sendable {
        private let budget: InFlightBudget
        private let bytes: Mutex<Int>

        fileprivate init(budget: InFlightBudget, bytes: Int) {
            self.budget = budget
            self.bytes = Mutex(bytes)
        }

        /// Changes the reservation to `total` bytes (a gzip body grown by decompression, a
        /// chunked body smaller than its reserved maximum); false, unchanged, when growing
        /// would exceed the budget.
        public func resize(to total: Int) -> Bool {
            bytes.withLock { held in
                guard budget.adjust(by: total - held, allowOver: false) else { return false }
                held = total
                return true
            }
        }

        public func release() {
            let held = bytes.withLock { held in
                defer { held = 0 }
                return held
            }
            if held > 0 { _ = budget.adjust(by: -held, allowOver: true) }
        }

        deinit { release() }
    }
}
