import CoreMetrics
import Logging

/// What happened to one submitted event; receivers turn this into their answer.
public enum EventOutcome: Sendable, Equatable {
    case stored
    case duplicate
    case rejected(EventRejection)

    /// `stored`, `duplicate` or `rejected` (a metric label).
    public var label: String {
        switch self {
        case .stored: "stored"
        case .duplicate: "duplicate"
        case .rejected: "rejected"
        }
    }

    public var isAccepted: Bool {
        switch self {
        case .stored, .duplicate: true
        case .rejected: false
        }
    }
}

/// One `service.pipelines` entry. Ingest processors run in order on the request's task; commit
/// stages (seq, chain) run inside the primary's transaction; egress processors (redaction) run
/// only on the copies given to secondaries. `submit` returns only after the primary committed,
/// so an accepted outcome means the event is durable; secondaries get the newly stored events
/// afterwards, without being waited for, and store readers are told a commit happened.
public final class Pipeline: Sendable {
    public let name: String
    let processors: [any EventProcessor]
    let egressProcessors: [any EventProcessor]
    let commitStages: [any CommitStage]
    let assignsHMAC: Bool
    let primary: any PrimaryExporter
    let secondaries: [any SecondaryExporter]
    let storeReaders: [any StoreReadingExporter]
    /// `governance_processor_rejected_events_total{pipeline,processor}` per ingest processor,
    /// then one for the final storability check (`processor="pipeline"`).
    let rejectedBy: [Counter]
    /// `governance_processor_dropped_events_total{pipeline,processor}` per egress processor.
    let droppedBy: [Counter]
    /// Tokens issued at run time into the primary store, which receivers accept besides their
    /// configured ones (nil: configured tokens only).
    public let managedTokens: (any ManagedTokens)?

    /// `processors` in configured order, with their component ids (metric labels).
    public init(name: String, processors: [(id: String, processor: any EventProcessor)], primary: any PrimaryExporter,
                secondaries: [any SecondaryExporter], storeReaders: [any StoreReadingExporter] = [],
                managedTokens: (any ManagedTokens)? = nil, telemetry: Telemetry = .disabled) {
        self.managedTokens = managedTokens
        let ingest = processors.filter { $0.processor.stage == .ingest }
        let egress = processors.filter { $0.processor.stage == .egress }
        self.name = name
        self.processors = ingest.map(\.processor)
        self.egressProcessors = egress.map(\.processor)
        self.commitStages = processors.compactMap { $0.processor as? any CommitStage }
        self.assignsHMAC = commitStages.contains { $0.assignsHMAC }
        self.primary = primary
        self.secondaries = secondaries
        self.storeReaders = storeReaders
        rejectedBy = (ingest.map(\.id) + ["pipeline"]).map {
            telemetry.counter("governance_processor_rejected_events_total", [("pipeline", name), ("processor", $0)])
        }
        droppedBy = egress.map {
            telemetry.counter("governance_processor_dropped_events_total", [("pipeline", name), ("processor", $0.id)])
        }
    }

    public var isReady: Bool { primary.isReady }

    public func submit(_ events: [AuditEvent]) async throws(PipelineUnavailable) -> [EventOutcome] {
        var outcomes = [EventOutcome?](repeating: nil, count: events.count)
        var ready: [AuditEvent] = []
        var readyIndex: [Int] = []
        ready.reserveCapacity(events.count)
        for (index, original) in events.enumerated() {
            var event = original
            var step = 0
            do {
                while step < processors.count {
                    event = try processors[step].process(event)
                    step += 1
                }
                try event.checkStorable(hmacAssignedLater: assignsHMAC)
                ready.append(event)
                readyIndex.append(index)
            } catch {
                rejectedBy[step].increment()
                outcomes[index] = .rejected(error)
            }
        }
        if !ready.isEmpty {
            let results = try await primary.commit(ready, stages: commitStages, stagesKey: name)
            var stored: [AuditEvent] = []
            for (position, result) in results.enumerated() {
                switch result {
                case .stored(let event):
                    outcomes[readyIndex[position]] = .stored
                    stored.append(event)
                case .duplicate:
                    outcomes[readyIndex[position]] = .duplicate
                case .rejected(let rejection):
                    outcomes[readyIndex[position]] = .rejected(rejection)
                }
            }
            if !stored.isEmpty, !secondaries.isEmpty {
                let outgoing = egressProcessors.isEmpty ? stored : stored.compactMap(egress)
                for secondary in secondaries { secondary.export(outgoing) }
            }
            if !stored.isEmpty {
                for reader in storeReaders { reader.committed() }
            }
        }
        return outcomes.map { $0! }
    }

    /// The copy of a stored event that secondaries get, or nil when an egress processor refused it.
    private func egress(_ event: AuditEvent) -> AuditEvent? {
        var event = event
        for (step, processor) in egressProcessors.enumerated() {
            do {
                event = try processor.process(event)
            } catch {
                droppedBy[step].increment()
                return nil
            }
        }
        return event
    }
}
