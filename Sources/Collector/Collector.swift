import Config
import Exporters
import Logging
import Pipeline
import Receivers
import ServiceLifecycle

/// The running collector: components built from a plan and run as one `ServiceGroup`.
/// Services start exporters first and receivers last; graceful shutdown (SIGTERM/SIGINT or
/// `shutdown()`) runs in reverse, so receivers stop taking requests before exporters drain.
/// An app can embed it: build a plan, make a `Collector`, `run()` it in a task.
public final class Collector: Sendable {
    public let pipelines: [String: Pipeline]
    /// Built receivers by component id (tests read `IngestHTTPReceiver.boundPort` from here).
    public let receivers: [String: any Receiver]
    /// Built exporters by component id (tests read the bridge's counters from here).
    public let exporters: [String: any Service]
    private let group: ServiceGroup

    public init(plan: CollectorPlan, logger: Logger, handleSignals: Bool = true) throws {
        func context(_ id: String) -> BuildContext {
            var componentLogger = logger
            componentLogger[metadataKey: "component"] = "\(id)"
            return BuildContext(id: id, logger: componentLogger)
        }
        var processors: [String: [any EventProcessor]] = [:]
        for p in plan.pipelines {
            processors[p.name] = try p.processors.map { id in try plan.processors[id]!.builder(context(id)) as! any EventProcessor }
        }
        // Primaries first: a secondary exporter keeps its state in its pipeline's primary store.
        var exporters: [String: ExporterRole] = [:]
        let used = plan.pipelines.flatMap(\.exporters)
        for id in Set(used).sorted() where plan.exporters[id]!.isPrimary {
            exporters[id] = try plan.exporters[id]!.builder(context(id)) as? ExporterRole
        }
        for id in Set(used).sorted() where !plan.exporters[id]!.isPrimary {
            let home = plan.pipelines.first { $0.exporters.contains(id) }!
            var secondaryContext = context(id)
            secondaryContext.egressProcessors = processors[home.name]!.filter { $0.stage == .egress }
            for primaryID in home.exporters {
                if case .primary(let primary as PostgresExporter)? = exporters[primaryID] { secondaryContext.stateDSN = primary.config.dsn }
            }
            exporters[id] = try plan.exporters[id]!.builder(secondaryContext) as? ExporterRole
        }
        var pipelines: [String: Pipeline] = [:]
        var receivers: [String: any Receiver] = [:]
        for p in plan.pipelines {
            var primary: (any PrimaryExporter)?
            var secondaries: [any SecondaryExporter] = []
            for id in p.exporters {
                switch exporters[id]! {
                case .primary(let e): primary = e
                case .secondary(let e): secondaries.append(e)
                }
            }
            let pipeline = Pipeline(name: p.name, processors: processors[p.name]!, primary: primary!, secondaries: secondaries)
            pipelines[p.name] = pipeline
            for id in p.receivers {
                var receiverContext = context(id)
                receiverContext.pipeline = pipeline
                receivers[id] = try plan.receivers[id]!.builder(receiverContext) as? any Receiver
            }
        }
        self.exporters = exporters.mapValues(\.service)
        self.pipelines = pipelines
        self.receivers = receivers
        let services: [any Service] = exporters.keys.sorted().map { exporters[$0]!.service } + receivers.keys.sorted().map { receivers[$0]! }
        group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            cancellationSignals: [],
            logger: logger))
    }

    public func run() async throws {
        try await group.run()
    }

    /// Starts graceful shutdown, as SIGTERM would.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}
