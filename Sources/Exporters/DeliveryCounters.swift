import Synchronization

/// What a sending exporter (platform bridge, OTLP) did, under the reference SDK's bridge counter
/// names (plus `duplicates` and `lag_seconds`). Thread-safe; read them with `snapshot`.
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

    public init() {}

    public func add(_ name: Name, _ delta: Int = 1) {
        values.withLock { $0[name, default: 0] += delta }
    }

    public func set(_ name: Name, _ value: Int) {
        values.withLock { $0[name] = value }
    }

    public subscript(_ name: Name) -> Int { values.withLock { $0[name] ?? 0 } }

    /// Why the bridge disabled itself (401/402), if it did.
    public var disabledReason: String? {
        get { reason.withLock { $0 } }
        set { reason.withLock { $0 = newValue } }
    }

    /// Durable mode: seconds between the oldest undelivered event's commit and now (0 when caught up).
    public var lagSeconds: Double {
        get { lag.withLock { $0 } }
        set { lag.withLock { $0 = newValue } }
    }

    public var snapshot: [String: Int] {
        values.withLock { v in Dictionary(uniqueKeysWithValues: Name.allCases.map { ($0.rawValue, v[$0] ?? 0) }) }
    }
}
