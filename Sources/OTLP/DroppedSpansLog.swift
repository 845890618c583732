public import Logging
import Synchronization

/// Says once per workflow and service, in the log, that its spans are being dropped: an OTLP
/// exporter does not show `partial_success` to the app, so the operator must learn it here.
public final class DroppedSpansLog: Sendable {
    private let logger: Logger
    private let seen = Mutex<Set<String>>([])
    /// Services remembered at most; past it every drop is logged at debug only.
    static let capacity = 1_000

    public init(logger: Logger) {
        self.logger = logger
    }

    public func note(services: Set<String>, workflow: String, count: Int) {
        for service in services {
            let first = seen.withLock { seen in seen.count < Self.capacity && seen.insert(workflow + "\u{0}" + service).inserted }
            let metadata: Logger.Metadata = ["workflow": "\(workflow)", "service": "\(service)", "spans": "\(count)"]
            if first {
                logger.warning(
                    "otlp.unmarked_spans_dropped",
                    metadata: metadata.merging(["fix": "keep_unmarked_spans: true keeps them; see docs/otlp-mapping.md for the markers"]) { $1 })
            } else {
                logger.debug("otlp.unmarked_spans_dropped", metadata: metadata)
            }
        }
    }
}
