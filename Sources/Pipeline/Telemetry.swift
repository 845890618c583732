public import CoreMetrics
import Synchronization

/// Where a component records its metrics (swift-metrics). Each collector has its own backend
/// (a Prometheus registry served on `/metrics`), handed to components in `BuildContext`, rather
/// than the process-wide `MetricsSystem`: one process can run several collectors (tests, an
/// embedding app), and each must count only its own traffic.
public struct Telemetry: Sendable {
    public let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Records nothing; for components built outside a collector.
    public static let disabled = Telemetry(factory: NOOPMetricsHandler.instance)

    public func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
        Counter(label: name, dimensions: labels, factory: factory)
    }

    public func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
        Gauge(label: name, dimensions: labels, factory: factory)
    }

    /// A histogram of durations, exported in seconds.
    public func timer(_ name: String, _ labels: [(String, String)] = []) -> Timer {
        Timer(label: name, dimensions: labels, factory: factory)
    }

    /// A histogram of values (e.g. batch sizes).
    public func histogram(_ name: String, _ labels: [(String, String)] = []) -> Recorder {
        Recorder(label: name, dimensions: labels, aggregate: true, factory: factory)
    }

    /// Counters of one name whose last label takes values known only at run time (an HTTP
    /// status, a redaction kind); each value's counter is made once and reused.
    public func counterFamily(_ name: String, _ labels: [(String, String)], varying: String) -> CounterFamily {
        CounterFamily(telemetry: self, name: name, labels: labels, varying: varying)
    }
}

/// See `Telemetry.counterFamily`.
public final class CounterFamily: Sendable {
    private let telemetry: Telemetry
    private let name: String
    private let labels: [(String, String)]
    private let varying: String
    private let counters = Mutex<[String: Counter]>([:])

    init(telemetry: Telemetry, name: String, labels: [(String, String)], varying: String) {
        self.telemetry = telemetry
        self.name = name
        self.labels = labels
        self.varying = varying
    }

    /// Counts each label value once per occurrence, with one increment per distinct value.
    public func tally(_ values: some Sequence<String>) {
        var counts: [String: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        for (value, count) in counts { increment(value, by: count) }
    }

    public func increment(_ value: String, by amount: Int = 1) {
        guard amount > 0 else { return }
        let counter = counters.withLock { counters in
            if let existing = counters[value] { return existing }
            let made = telemetry.counter(name, labels + [(varying, value)])
            counters[value] = made
            return made
        }
        counter.increment(by: amount)
    }
}
