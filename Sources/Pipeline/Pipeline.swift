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

/// One `service.pipelines` entry. Ingest processors run in order on the request's task, then
/// each commit stage's `prepare`; the stages themselves (budget, seq, chain) run inside the
/// primary's transaction; egress processors (redaction) run only on the copies given to
/// secondaries (`Egress`). `submit` returns only after the primary committed, so an accepted
/// outcome means the event is durable; secondaries get the newly stored events afterwards,
/// without being waited for, and store readers are told a commit happened.
public final class Pipeline: Sendable {
    public let name: String
    let processors: [any EventProcessor]
    let commitStages: [any CommitStage]
    /// A commit stage chains events that come without a client HMAC (telemetry spans and records).
    public let assignsHMAC: Bool
    let egress: Egress
    let primary: any PrimaryExporter
    let secondaries: [any SecondaryExporter]
    let storeReaders: [any StoreReadingExporter]
    /// `governance_processor_rejected_events_total{pipeline,processor}` per ingest processor,
    /// then per commit stage (its `prepare`), then one for the final storability check
    /// (`processor="pipeline"`).
    let rejectedBy: [Counter]
    /// Tokens issued at run time into the primary store, which receivers accept besides their
    /// configured ones (nil: configured tokens only).
    public let managedTokens: (any ManagedTokens)?

    /// `processors` are the ingest processors and `commitStages` the stages, each in configured
    /// order with their component ids (metric labels).
    public init(
        name: String, processors: [(id: String, processor: any EventProcessor)] = [],
        commitStages: [(id: String, stage: any CommitStage)] = [], egress: Egress = .none,
        primary: any PrimaryExporter, secondaries: [any SecondaryExporter] = [], storeReaders: [any StoreReadingExporter] = [],
        managedTokens: (any ManagedTokens)? = nil, telemetry: Telemetry = .disabled
    ) {
        precondition(processors.allSatisfy { $0.processor.stage == .ingest }, "egress processors belong in `egress`")
        self.managedTokens = managedTokens
        self.name = name
        self.processors = processors.map(\.processor)
        self.commitStages = commitStages.map(\.stage)
        self.assignsHMAC = commitStages.contains { $0.stage.resources.get(ChainSecret.self) != nil }
        self.egress = egress
        self.primary = primary
        self.secondaries = secondaries
        self.storeReaders = storeReaders
        rejectedBy = (processors.map(\.id) + commitStages.map(\.id) + ["pipeline"]).map {
            telemetry.counter("governance_processor_rejected_events_total", [("pipeline", name), ("processor", $0)])
        }
    }

    public var isReady: Bool { primary.isReady }

    /// Who submits: clients (receivers) may not claim the collector's identity (`SystemIdentity`);
    /// the collector's own components submit as `.collector`.
    public enum Origin: Sendable { case client, collector }

    public func submit(_ events: [AuditEvent], from origin: Origin = .client) async throws(PipelineUnavailable) -> [EventOutcome] {
        var outcomes = [EventOutcome?](repeating: nil, count: events.count)
        var ready: [AuditEvent] = []
        var readyIndex: [Int] = []
        ready.reserveCapacity(events.count)
        for (index, original) in events.enumerated() {
            var event = original
            var step = 0
            do throws(EventRejection) {
                // Refused before any processor, counted as the pipeline's own refusal.
                if origin == .client, let claim = SystemIdentity.claim(by: event) {
                    step = processors.count + commitStages.count
                    throw claim
                }
                while step < processors.count {
                    event = try processors[step].process(event)
                    step += 1
                }
                while step < processors.count + commitStages.count {
                    event = try commitStages[step - processors.count].prepare(event)
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
                let outgoing = egress.apply(stored)
                for secondary in secondaries { secondary.export(outgoing) }
            }
            if !stored.isEmpty {
                for reader in storeReaders { reader.committed() }
            }
        }
        return outcomes.map { $0! }
    }
}
