import CoreMetrics

/// A pipeline's egress processors (e.g. redaction): what every copy leaving the collector goes
/// through, and the only place they run. The pipeline applies it to the batches it hands to
/// secondaries; an exporter that reads committed events back from the store gets the same value
/// in its `BuildContext` and applies it to what it reads. Refusals are counted in
/// `governance_processor_dropped_events_total{pipeline,processor}`.
public struct Egress: Sendable {
    let processors: [any EventProcessor]
    let dropped: [Counter]

    /// `processors` are the pipeline's egress-stage processors, in configured order, with their ids.
    public init(pipeline: String, processors: [(id: String, processor: any EventProcessor)], telemetry: Telemetry) {
        self.processors = processors.map(\.processor)
        dropped = processors.map {
            telemetry.counter("governance_processor_dropped_events_total", [("pipeline", pipeline), ("processor", $0.id)])
        }
    }

    /// No egress processors: copies leave as stored.
    public static let none = Egress(pipeline: "", processors: [], telemetry: .disabled)

    public var isEmpty: Bool { processors.isEmpty }

    /// The copy of a stored event that may leave, or nil when an egress processor refused it.
    public func apply(_ event: AuditEvent) -> AuditEvent? {
        var event = event
        for (step, processor) in processors.enumerated() {
            do {
                event = try processor.process(event)
            } catch {
                dropped[step].increment()
                return nil
            }
        }
        return event
    }

    /// The copies of `events` that may leave, in order.
    public func apply(_ events: [AuditEvent]) -> [AuditEvent] {
        isEmpty ? events : events.compactMap(apply)
    }
}
