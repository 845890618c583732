import CoreMetrics
public import Pipeline
import Synchronization

/// What a sending exporter (platform bridge, OTLP) did, under the reference SDK's bridge counter
/// names (plus `duplicates` and `lag_seconds`). Thread-safe; read them with `snapshot`. Each
/// counter is also a metric, `<prefix>_<name>_total{exporter="<id>"}`, so what tests and logs
/// read is what `/metrics` shows.
public final class DeliveryCounters: Sendable {
    public enum Name: String, CaseIterable, Sendable {
        case sent, duplicates, retries, disabled
        case droppedQueueFull = "dropped_queue_full"
        case dropped4xx = "dropped_4xx"
        case dropped5xx = "dropped_5xx"
        case droppedSeqConflict = "dropped_seq_conflict"
    }

    private let values = Mutex<[Name: Int]>([:])
    private let reason = Mutex<String?>(nil)
    private let lag = Mutex<Double>(0)
    private let metrics: [Name: Counter]
    private let disabledGauge: Gauge
    private let lagGauge: Gauge
    /// `<prefix>_queue_size` and `<prefix>_queue_capacity`, kept by the exporter's `ExportQueue`.
    let queueSize: Gauge
    let queueCapacity: Gauge

    /// `prefix` names the exporter type in metrics (`governance_platform_bridge`).
    public init(telemetry: Telemetry = .disabled, prefix: String = "governance_exporter", exporter: String = "") {
        let labels = [("exporter", exporter)]
        var metrics: [Name: Counter] = [:]
        for name in Name.allCases where name != .disabled {
            metrics[name] = telemetry.counter("\(prefix)_\(name.rawValue)_total", labels)
        }
        self.metrics = metrics
        disabledGauge = telemetry.gauge("\(prefix)_disabled", labels)
        lagGauge = telemetry.gauge("\(prefix)_lag_seconds", labels)
        queueSize = telemetry.gauge("\(prefix)_queue_size", labels)
        queueCapacity = telemetry.gauge("\(prefix)_queue_capacity", labels)
        disabledGauge.record(0)
        lagGauge.record(0)
    }

    public func add(_ name: Name, _ delta: Int = 1) {
        values.withLock { $0[name, default: 0] += delta }
        metrics[name]?.increment(by: delta)
    }

    public subscript(_ name: Name) -> Int { values.withLock { $0[name] ?? 0 } }

    /// Marks the exporter disabled for good (401/402): `disabled` becomes 1.
    public func disable(reason text: String) {
        reason.withLock { $0 = text }
        values.withLock { $0[.disabled] = 1 }
        disabledGauge.record(1)
    }

    /// Why the bridge disabled itself (401/402), if it did.
    public var disabledReason: String? { reason.withLock { $0 } }

    /// Durable mode: seconds between the oldest undelivered event's commit and now (0 when caught up).
    public var lagSeconds: Double {
        get { lag.withLock { $0 } }
        set {
            lag.withLock { $0 = newValue }
            lagGauge.record(newValue)
        }
    }

    public var snapshot: [String: Int] {
        values.withLock { v in Dictionary(uniqueKeysWithValues: Name.allCases.map { ($0.rawValue, v[$0] ?? 0) }) }
    }
}
