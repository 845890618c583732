public import Config
public import Logging
public import ServiceLifecycle

/// Where a processor runs.
public enum ProcessorStage: Sendable {
    /// Before the primary commit: changes what Postgres stores, and can refuse the event.
    case ingest
    /// After the commit, on the copies sent to secondary exporters only (e.g. redaction):
    /// the local record stays exact. A refusal here drops only the outgoing copy.
    case egress
}

/// Transforms or refuses one event on its way to the exporters. Runs on the request's task, so
/// it must be fast and must not block.
public protocol EventProcessor: Sendable {
    var stage: ProcessorStage { get }
    /// What this processor shares with the rest of its pipeline, by type: e.g. the agent keys it
    /// checks signatures with (an `AgentKeyring`, which the collector keeps loaded from the
    /// pipeline's database) or the pipeline's redaction (`PipelineRedaction`).
    var resources: SharedResources { get }
    func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent
}

extension EventProcessor {
    public var stage: ProcessorStage { .ingest }
    public var resources: SharedResources { SharedResources() }
}

/// What the primary store did with one event.
public enum CommitResult: Sendable, Equatable {
    /// Committed, as stored (with what commit stages assigned: seq, chain fields).
    case stored(AuditEvent)
    /// An event with this `event_id` was already stored; nothing was written.
    case duplicate
    /// The database refused this event alone (its neighbours in the batch were still stored).
    case rejected(EventRejection)

    /// `stored`, `duplicate` or `rejected` (a metric label).
    public var label: String {
        switch self {
        case .stored: "stored"
        case .duplicate: "duplicate"
        case .rejected: "rejected"
        }
    }
}

/// Thrown while the primary store cannot commit: the receiver answers 503 with `Retry-After`.
public struct PipelineUnavailable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var retryAfterSeconds: Int
    public init(reason: String, retryAfterSeconds: Int = 1) {
        self.reason = reason
        self.retryAfterSeconds = retryAfterSeconds
    }
    public var description: String { reason }
}

/// The authoritative store. `commit` returns only after the events' transaction has committed,
/// which is what lets a receiver's 2xx mean "durable".
public protocol PrimaryExporter: Service {
    /// `stages` run inside the transaction; requests with different `stagesKey`s never share one.
    func commit(_ events: [AuditEvent], stages: [any CommitStage], stagesKey: String) async throws(PipelineUnavailable) -> [CommitResult]
    /// Connected and migrated: able to commit right now.
    var isReady: Bool { get }
    /// What the store shares with the rest of its pipeline (its database), handed to the
    /// pipeline's other exporters and the UI in their `BuildContext.resources`.
    var resources: SharedResources { get }
}

extension PrimaryExporter {
    public var resources: SharedResources { SharedResources() }
}

/// A copy of committed events sent elsewhere. `export` must return at once (enqueue or drop):
/// a secondary can lose its own copy but never slow or fail the primary path.
public protocol SecondaryExporter: Service {
    func export(_ events: [AuditEvent])
}

/// A secondary exporter with a memory queue (what a forced exit would abandon).
public protocol QueuedExporter {
    /// Events waiting to be sent.
    var queueSize: Int { get }
}

/// A secondary that reads what it sends back from the primary's database (the durable bridge,
/// the budget webhook's alert outbox), so nothing is lost when it falls behind or restarts. The
/// pipeline hands it no events; it only learns that a commit stored some.
public protocol StoreReadingExporter: Service {
    /// Called after each commit that stored events; must return at once (e.g. wake a sender).
    func committed()
}

/// Accepts events from the outside world and submits them to its pipeline.
public protocol Receiver: Service {
    /// Bound and admitting requests (false before start-up and while draining for shutdown).
    var isListening: Bool { get }
}

/// An exporter as built by its factory: the role decides how the pipeline uses it.
public enum ExporterRole: Sendable {
    case primary(any PrimaryExporter)
    case secondary(any SecondaryExporter)
    case storeReader(any StoreReadingExporter)

    public var service: any Service {
        switch self {
        case .primary(let e): e
        case .secondary(let e): e
        case .storeReader(let e): e
        }
    }
}

/// A component type as the configuration names it (`ingest_http`, `postgres`, ...). `configure`
/// reads and validates the component's section and returns a builder; nothing is built until
/// the whole configuration has validated, so a mistake anywhere stops start-up before any I/O.
public struct ComponentFactory<Built, Context>: Sendable {
    public typealias Builder = @Sendable (Context) throws -> Built
    public let type: String
    /// For exporters: the authoritative store that decides acknowledgements.
    public let isPrimary: Bool
    /// The database work (`DatabaseWorkFactory.name`) its pipeline's database must do for it,
    /// e.g. `traces` for a receiver whose spans wait there for their trace.
    public let needs: Set<String>
    public let configure: @Sendable (ConfigSection) throws(ConfigError) -> Builder

    public init(
        type: String, isPrimary: Bool = false, needs: Set<String> = [],
        configure: @escaping @Sendable (ConfigSection) throws(ConfigError) -> Builder
    ) {
        self.type = type
        self.isPrimary = isPrimary
        self.needs = needs
        self.configure = configure
    }
}

/// Tables one owner keeps in the primary database: idempotent statements run in order on every
/// start, inside the migration transaction, on an empty database or one the SDK created. Each of
/// the store's typed stores (AuditStore) declares its steps beside its statements, and
/// `AuditSchema.steps` lists them all.
public struct SchemaSteps: Sendable {
    /// Who keeps these tables (a component type, or the store itself).
    public let owner: String
    public let statements: [String]

    public init(owner: String, statements: [String]) {
        self.owner = owner
        self.statements = statements
    }
}

/// What a component gets when it is built.
public struct BuildContext: Sendable {
    public var id: String
    public var logger: Logger
    /// For secondary exporters: what their pipeline's primary shares (its database, where state
    /// that must survive is kept: bridge seq and cursors, alert outbox).
    public var resources: SharedResources
    /// For secondary exporters: their pipeline's egress processors (e.g. redaction), for an
    /// exporter that reads committed events back from the store instead of receiving them: it
    /// applies them exactly as the pipeline does for the copies it hands out.
    public var egress: Egress
    /// Where the component records its metrics (the collector's `/metrics`).
    public var telemetry: Telemetry
    /// The collector-wide budget of request bytes in flight, which receivers reserve from.
    public var inFlight: InFlightBudget
    /// What a component's deadlines are timed by (`ContinuousClock`; tests pass a `TestClock`
    /// to move time on without waiting for it).
    public var clock: any Clock<Duration>

    public init(
        id: String, logger: Logger, resources: SharedResources = SharedResources(),
        egress: Egress = .none, telemetry: Telemetry = .disabled, inFlight: InFlightBudget = .unlimited,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.clock = clock
        self.logger = logger
        self.telemetry = telemetry
        self.inFlight = inFlight
        self.resources = resources
        self.egress = egress
    }
}

/// What a receiver is built with: what every component gets, and the pipeline it feeds.
@dynamicMemberLookup
public struct ReceiverContext: Sendable {
    public var common: BuildContext
    public var pipeline: Pipeline

    public init(_ common: BuildContext, pipeline: Pipeline) {
        self.common = common
        self.pipeline = pipeline
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<BuildContext, Value>) -> Value { common[keyPath: keyPath] }
}

public typealias ReceiverFactory = ComponentFactory<any Receiver, ReceiverContext>
public typealias ProcessorFactory = ComponentFactory<any EventProcessor, BuildContext>
public typealias ExporterFactory = ComponentFactory<ExporterRole, BuildContext>

/// The component types a collector can build, keyed by type name. Adding a component is one
/// factory plus one line here. Processors and commit stages share the `processors:` namespace
/// of the configuration, so their type names must differ.
public struct ComponentRegistry: Sendable {
    public var receivers: [String: ReceiverFactory] = [:]
    public var processors: [String: ProcessorFactory] = [:]
    public var commitStages: [String: CommitStageFactory] = [:]
    public var exporters: [String: ExporterFactory] = [:]
    /// Built and started in this order (after the receivers).
    public var extensions: [ExtensionFactory] = []
    /// Built for each database in this order; their services start before the receivers.
    public var databaseWork: [DatabaseWorkFactory] = []

    public init(
        receivers: [ReceiverFactory] = [], processors: [ProcessorFactory] = [], commitStages: [CommitStageFactory] = [],
        exporters: [ExporterFactory] = [], extensions: [ExtensionFactory] = [], databaseWork: [DatabaseWorkFactory] = []
    ) {
        self.extensions = extensions
        self.databaseWork = databaseWork
        for f in receivers { self.receivers[f.type] = f }
        for f in processors { self.processors[f.type] = f }
        for f in commitStages {
            precondition(self.processors[f.type] == nil, "commit stage `\(f.type)` has the name of a processor")
            self.commitStages[f.type] = f
        }
        for f in exporters { self.exporters[f.type] = f }
        let work = Set(databaseWork.map(\.name))
        for f in self.receivers.values.map(\.needs) + self.processors.values.map(\.needs) + self.exporters.values.map(\.needs) {
            precondition(f.isSubset(of: work), "a component needs database work \(f.subtracting(work).sorted()) that no factory provides")
        }
    }

    /// This registry plus one extension from outside the built-in set, started after the others.
    public func adding(extension factory: ExtensionFactory) -> ComponentRegistry {
        var registry = self
        registry.extensions.append(factory)
        return registry
    }

    /// This registry plus one kind of database work from outside the built-in set, built after the others.
    public func adding(databaseWork factory: DatabaseWorkFactory) -> ComponentRegistry {
        var registry = self
        registry.databaseWork.append(factory)
        return registry
    }

    /// This registry plus one exporter type from outside the built-in set.
    public func adding(exporter factory: ExporterFactory) -> ComponentRegistry {
        precondition(factory.needs.isSubset(of: databaseWork.map(\.name)), "exporter `\(factory.type)` needs database work no factory provides")
        var registry = self
        registry.exporters[factory.type] = factory
        return registry
    }
}
