import CoreMetrics

/// A pipeline's egress processors (e.g. redaction) and its one redaction: what every copy
/// leaving the collector goes through, and the only place they run. The pipeline applies the
/// processors to the batches it hands to secondaries; an exporter that reads committed events
/// back from the store gets the same value in its `BuildContext` and applies it to what it
/// reads. Refusals are counted in `governance_processor_dropped_events_total{pipeline,processor}`.
public struct Egress: Sendable {
    let processors: [any EventProcessor]
    let dropped: [Counter]
    /// The pipeline's redaction, which exporters sending copies off the premises apply with
    /// `redact(_:)` (once: not again when the egress processors already did).
    public let redaction: PipelineRedaction

    /// `processors` are the pipeline's egress-stage processors, in configured order, with their ids.
    public init(
        pipeline: String, processors: [(id: String, processor: any EventProcessor)], redaction: PipelineRedaction = .builtIn,
        telemetry: Telemetry
    ) {
        self.processors = processors.map(\.processor)
        self.redaction = redaction
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

    /// `event` after the pipeline's redaction, unless the egress processors applied it already.
    public func redact(_ event: AuditEvent) -> AuditEvent {
        guard !redaction.appliedByEgress else { return event }
        var event = event
        var counts: [String: Int] = [:]
        redaction.redactor.redact(&event, counts: &counts)
        return event
    }

    /// The copies of `events` that may leave, in order.
    public func apply(_ events: [AuditEvent]) -> [AuditEvent] {
        isEmpty ? events : events.compactMap(apply)
    }
}

/// A pipeline's one redaction of the copies that leave it: its `redaction` processor's patterns
/// and allowlist, or the built-in patterns when it lists none.
public struct PipelineRedaction: Sendable {
    public let redactor: Redactor
    /// The processor runs at the egress stage, on every copy handed out: exporters must not
    /// redact again.
    public let appliedByEgress: Bool

    public init(redactor: Redactor, appliedByEgress: Bool) {
        self.redactor = redactor
        self.appliedByEgress = appliedByEgress
    }

    /// The built-in patterns, applied by the exporters that send copies out.
    public static let builtIn = PipelineRedaction(redactor: Redactor(), appliedByEgress: false)
}
