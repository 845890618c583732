import Logging

/// What happened to one submitted event; receivers turn this into their answer.
public enum EventOutcome: Sendable, Equatable {
    case stored
    case duplicate
    case rejected(EventRejection)

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
/// afterwards, without being waited for.
public final class Pipeline: Sendable {
    public let name: String
    let processors: [any EventProcessor]
    let egressProcessors: [any EventProcessor]
    let commitStages: [any CommitStage]
    let assignsHMAC: Bool
    let primary: any PrimaryExporter
    let secondaries: [any SecondaryExporter]

    public init(name: String, processors: [any EventProcessor], primary: any PrimaryExporter, secondaries: [any SecondaryExporter]) {
        self.name = name
        self.processors = processors.filter { $0.stage == .ingest }
        self.egressProcessors = processors.filter { $0.stage == .egress }
        self.commitStages = processors.compactMap { $0 as? any CommitStage }
        self.assignsHMAC = commitStages.contains { $0.assignsHMAC }
        self.primary = primary
        self.secondaries = secondaries
    }

    public var isReady: Bool { primary.isReady }

    public func submit(_ events: [AuditEvent]) async throws(PipelineUnavailable) -> [EventOutcome] {
        var outcomes = [EventOutcome?](repeating: nil, count: events.count)
        var ready: [AuditEvent] = []
        var readyIndex: [Int] = []
        ready.reserveCapacity(events.count)
        for (index, original) in events.enumerated() {
            do {
                var event = original
                for processor in processors { event = try processor.process(event) }
                try event.checkStorable(hmacAssignedLater: assignsHMAC)
                ready.append(event)
                readyIndex.append(index)
            } catch {
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
                let outgoing = egressProcessors.isEmpty ? stored : stored.compactMap { event in
                    try? egressProcessors.reduce(event) { event, processor throws(EventRejection) in try processor.process(event) }
                }
                for secondary in secondaries { secondary.export(outgoing) }
            }
        }
        return outcomes.map { $0! }
    }
}
