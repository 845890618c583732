import AuditStore
import Config
import Foundation
public import Logging
public import Pipeline
public import Prometheus
public import ServiceLifecycle
import Synchronization
import UnixSignals

/// The running collector: components built from a plan and run as one `ServiceGroup`.
/// Services start with the telemetry server, then exporters, then each database's work
/// (`DatabaseWorkFactory`), then receivers, then extensions; graceful shutdown
/// (SIGTERM/SIGINT or `shutdown()`) runs in reverse: receivers drain (new requests get 503,
/// accepted ones commit), exporters flush within their deadlines, the telemetry server stops
/// last. With `handleSignals`, a second signal ends the process at once.
/// An app can embed it: build a plan, make a `Collector`, `run()` it in a task.
public final class Collector: Sendable {
    public let pipelines: [String: Pipeline]
    /// Built receivers by component id (tests read `IngestHTTPReceiver.boundPort` from here).
    public let receivers: [String: any Receiver]
    /// Built exporters by component id (tests read the bridge's counters from here).
    public let exporters: [String: any Service]
    /// Every metric of this collector (what `/metrics` serves).
    public let metrics: PrometheusCollectorRegistry
    /// Built extensions by id (`ui`, `checkpoints`, `retention`, …).
    public let extensions: [String: any Service]
    private let telemetryServer: TelemetryServer?
    private let group: ServiceGroup
    private let handleSignals: Bool
    private let logger: Logger
    private let shuttingDown: ShutdownFlag

    /// `clock` times the components' deadlines (tests pass a `TestClock`).
    public init(plan: CollectorPlan, logger: Logger, handleSignals: Bool = true, clock: any Clock<Duration> = ContinuousClock()) throws {
        let registry = PrometheusCollectorRegistry()
        metrics = registry
        let telemetry = Telemetry(factory: Self.metricsFactory(registry))
        let inFlight = InFlightBudget(limit: plan.inFlightLimit, telemetry: telemetry)
        func context(_ id: String) -> BuildContext {
            var componentLogger = logger
            componentLogger[metadataKey: "component"] = "\(id)"
            return BuildContext(id: id, logger: componentLogger, telemetry: telemetry, inFlight: inFlight, clock: clock)
        }
        // Per pipeline: its processors by stage, its commit stages, and the egress every copy leaving it passes.
        var ingest: [String: [(id: String, processor: any EventProcessor)]] = [:]
        var stages: [String: [(id: String, stage: any CommitStage)]] = [:]
        var egress: [String: Egress] = [:]
        for p in plan.pipelines {
            var egressProcessors: [(id: String, processor: any EventProcessor)] = []
            var redaction = PipelineRedaction.builtIn
            for id in p.processors {
                if let component = plan.commitStages[id] {
                    stages[p.name, default: []].append((id, try component.build(context(id))))
                    continue
                }
                let processor = try plan.processors[id]!.build(context(id))
                if let configured = processor.resources.get(PipelineRedaction.self) { redaction = configured }
                switch processor.stage {
                case .ingest: ingest[p.name, default: []].append((id, processor))
                case .egress: egressProcessors.append((id, processor))
                }
            }
            egress[p.name] = Egress(pipeline: p.name, processors: egressProcessors, redaction: redaction, telemetry: telemetry)
        }
        // Primaries first: the others of a pipeline get what its primary shares (its database),
        // one handle per database however many primaries open it, so what runs per database runs once.
        var exporters: [String: ExporterRole] = [:]
        let used = plan.pipelines.flatMap(\.exporters)
        for id in Set(used).sorted() where plan.exporters[id]!.isPrimary {
            exporters[id] = try plan.exporters[id]!.build(context(id))
        }
        var shared: [String: SharedResources] = [:]
        var databases: [AuditDatabase] = []
        for p in plan.pipelines {
            for case .primary(let primary)? in p.exporters.map({ exporters[$0] }) {
                var resources = primary.resources
                if let database = resources.auditDatabase {
                    if let known = databases.first(where: { $0.isSameDatabase(as: database) }) {
                        resources.provide(known)
                    } else {
                        databases.append(database)
                    }
                }
                shared[p.name] = resources
            }
        }
        for id in Set(used).sorted() where !plan.exporters[id]!.isPrimary {
            let home = plan.pipelines.first { $0.exporters.contains(id) }!
            var secondaryContext = context(id)
            secondaryContext.egress = egress[home.name]!
            secondaryContext.resources = shared[home.name] ?? SharedResources()
            exporters[id] = try plan.exporters[id]!.build(secondaryContext)
        }
        // Each database's work: what it gives its pipelines now, its services once they are built.
        var given: [String: SharedResources] = [:]
        var databaseServices: [@Sendable ([String: Pipeline]) -> [any Service]] = []
        for database in databases {
            let kept = plan.pipelines.filter { shared[$0.name]?.auditDatabase === database }
            let facts = kept.map { p in
                DatabaseWorkContext.PipelineFacts(
                    name: p.name, processors: (ingest[p.name] ?? []).map { ($0.id, $0.processor.resources) }, needs: plan.needs(p))
            }
            for factory in plan.databaseWork {
                let work = try factory.build(
                    DatabaseWorkContext(
                        logger: context(factory.name).logger, telemetry: telemetry, clock: clock, database: shared[kept[0].name]!,
                        pipelines: facts))
                for (name, resources) in work.pipelineResources { given[name, default: SharedResources()].merge(resources) }
                databaseServices.append(work.services)
            }
        }
        var pipelines: [String: Pipeline] = [:]
        var receivers: [String: any Receiver] = [:]
        for p in plan.pipelines {
            var primary: (any PrimaryExporter)?
            var secondaries: [any SecondaryExporter] = []
            var storeReaders: [any StoreReadingExporter] = []
            for id in p.exporters {
                switch exporters[id]! {
                case .primary(let e): primary = e
                case .secondary(let e): secondaries.append(e)
                case .storeReader(let e): storeReaders.append(e)
                }
            }
            let pipeline = Pipeline(
                name: p.name, processors: ingest[p.name] ?? [], commitStages: stages[p.name] ?? [], egress: egress[p.name]!,
                primary: primary!, secondaries: secondaries, storeReaders: storeReaders,
                managedTokens: given[p.name]?.get((any ManagedTokens).self), telemetry: telemetry)
            pipelines[p.name] = pipeline
            for id in p.receivers {
                var receiverContext = context(id)
                receiverContext.resources = given[p.name] ?? SharedResources()
                receivers[id] = try plan.receivers[id]!.build(ReceiverContext(receiverContext, pipeline: pipeline))
            }
        }
        self.exporters = exporters.mapValues(\.service)
        self.pipelines = pipelines
        self.receivers = receivers
        self.handleSignals = handleSignals
        self.logger = logger
        let shuttingDown = ShutdownFlag()
        self.shuttingDown = shuttingDown
        // Each pipeline with the id of its primary, whose readiness it reports.
        let builtPipelines = Dictionary(
            uniqueKeysWithValues: plan.pipelines.map { p in
                (p.name, (pipeline: pipelines[p.name]!, primary: p.exporters.first { plan.exporters[$0]!.isPrimary }!))
            })
        let builtReceivers = receivers
        telemetryServer = plan.telemetryEndpoint.map { endpoint in
            TelemetryServer(
                host: endpoint.host, port: endpoint.port, limits: plan.telemetryLimits, telemetry: telemetry, registry: registry,
                readiness: {
                    Self.readiness(pipelines: builtPipelines, receivers: builtReceivers, shuttingDown: shuttingDown.isSet)
                }, logger: logger)
        }
        /// The HMAC secret of each pipeline's chain stage, else GOVERNANCE_AUDIT_SECRET: what keys
        /// the rows the collector writes itself and what the UI's verify checks with.
        let environmentSecret = ProcessInfo.processInfo.environment["GOVERNANCE_AUDIT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        var chainSecrets: [String: String] = [:]
        for p in plan.pipelines {
            chainSecrets[p.name] = stages[p.name]?.lazy.compactMap { $0.stage.resources.get(ChainSecret.self)?.value }.first ?? environmentSecret
        }
        var extensionContext = ExtensionContext(
            id: "", logger: logger, telemetry: telemetry, clock: clock, pipelines: pipelines,
            resources: shared, egress: egress, chainSecrets: chainSecrets,
            readiness: {
                Self.readiness(pipelines: builtPipelines, receivers: builtReceivers, shuttingDown: shuttingDown.isSet).checks
            })
        var extensions: [(id: String, service: any Service)] = []
        for configured in plan.extensions {
            extensionContext.id = configured.id
            extensionContext.logger = context(configured.id).logger
            let built = try configured.build(extensionContext)
            extensions.append((configured.id, built.service))
            extensionContext.provided.merge(built.provides)
        }
        self.extensions = Dictionary(uniqueKeysWithValues: extensions)
        // Start order; graceful shutdown runs in reverse (the UI and receivers stop first).
        var services: [any Service] = telemetryServer.map { [$0] } ?? []
        services += exporters.keys.sorted().map { exporters[$0]!.service }
        services += databaseServices.flatMap { $0(pipelines) }
        services += receivers.keys.sorted().map { receivers[$0]! } + extensions.map(\.service)
        group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [],
                cancellationSignals: [],
                logger: logger))
    }

    /// The telemetry server's port once listening (useful with port 0).
    public var telemetryPort: Int? { telemetryServer?.port }

    /// Runs until shutdown. With `handleSignals`, SIGTERM or SIGINT starts a graceful shutdown
    /// and a second one exits the process at once (status 1), logging what was left undone.
    public func run() async throws {
        guard handleSignals else { return try await group.run() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await self.group.run() }
            tasks.addTask {
                var received = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    received += 1
                    if received == 1 {
                        self.logger.info("collector.shutting_down", metadata: ["signal": "\(signal)", "hint": "send it again to exit at once"])
                        await self.shutdown()
                    } else {
                        self.logger.warning("collector.forced_exit", metadata: ["signal": "\(signal)", "left_undone": "\(self.leftUndone())"])
                        exit(1)
                    }
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    /// Starts graceful shutdown, as SIGTERM would.
    public func shutdown() async {
        shuttingDown.set()
        await group.triggerGracefulShutdown()
    }

    /// What a forced exit abandons: events still queued per sending exporter.
    private func leftUndone() -> [String: Int] {
        var left: [String: Int] = [:]
        for (id, exporter) in exporters {
            if let queued = (exporter as? any QueuedExporter)?.queueSize, queued > 0 { left[id] = queued }
        }
        return left
    }

    /// `/readyz`'s checks: each pipeline's primary (`pipeline.<name>.<primary id>`) and each receiver.
    static func readiness(
        pipelines: [String: (pipeline: Pipeline, primary: String)], receivers: [String: any Receiver],
        shuttingDown: Bool
    ) -> (ready: Bool, checks: [String: String]) {
        var checks: [String: String] = [:]
        var ready = !shuttingDown
        checks["collector"] = shuttingDown ? "shutting_down" : "running"
        for (name, (pipeline, primary)) in pipelines {
            checks["pipeline.\(name).\(primary)"] = pipeline.isReady ? "ready" : "unavailable"
            ready = ready && pipeline.isReady
        }
        for (id, receiver) in receivers {
            checks["receiver.\(id)"] = receiver.isListening ? "listening" : "not_listening"
            ready = ready && receiver.isListening
        }
        return (ready, checks)
    }

    /// Prometheus buckets for the histograms whose values the defaults do not fit.
    static func metricsFactory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["governance_postgres_commit_duration_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        factory.valueHistogramBuckets["governance_postgres_commit_batch_events"] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        return factory
    }
}

final class ShutdownFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
