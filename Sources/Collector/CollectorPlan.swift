import Alerts
public import AuditStore
import CommitStages
public import Config
import Exporters
public import Foundation
package import Listeners
public import Logging
public import Pipeline
import Processors
import Receivers
import Timeline
import TraceAssembly
import Retention
import Transparency

/// A configuration file read, expanded and validated: every component's settings checked and
/// its builder ready, nothing built yet. Loading is all-or-nothing: the first mistake stops it
/// with the file, the key and the fix.
public struct CollectorPlan: Sendable {
    /// One configured component: its settings validated, its builder ready.
    public struct Component<Built, Context>: Sendable {
        public var id: String
        public var type: String
        let builder: ComponentFactory<Built, Context>.Builder
        var isPrimary: Bool
        /// The database work its pipeline's database does for it (`ComponentFactory.needs`).
        var needs: Set<String> = []

        public func build(_ context: Context) throws -> Built { try builder(context) }
    }

    public struct PipelinePlan: Sendable {
        public var name: String
        public var receivers: [String]
        /// Processors and commit stages, as configured (`CollectorPlan.processors` or `.commitStages`).
        public var processors: [String]
        public var exporters: [String]
    }

    public var file: String
    public var receivers: [String: Component<any Receiver, ReceiverContext>] = [:]
    public var processors: [String: Component<any EventProcessor, BuildContext>] = [:]
    /// Configured under `processors:` too; their factories declare them commit stages.
    public var commitStages: [String: Component<any CommitStage, BuildContext>] = [:]
    public var exporters: [String: Component<ExporterRole, BuildContext>] = [:]
    public var pipelines: [PipelinePlan] = []
    public var logLevel: Logger.Level = .info
    /// `service.telemetry.logs.format` / `GOVERNANCE_LOG_FORMAT`: `text` (default) or `json` (`JSONLogHandler`).
    public var logFormat = LogFormat.text
    /// `service.telemetry.metrics`: where `/metrics`, `/healthz` and `/readyz` are served;
    /// nil when `enabled: false`. Default 127.0.0.1:8888 (the OpenTelemetry Collector's port for
    /// its own metrics), env `GOVERNANCE_METRICS_ENDPOINT`.
    public var telemetryEndpoint: (host: String, port: Int)? = ("127.0.0.1", 8888)
    /// `service.telemetry.metrics.read_header_timeout` (default 2), … `max_connections` (default 512).
    package var telemetryLimits: ListenerLimits = {
        // A scraper or a probe sends its few headers at once: a connection that trickles them is
        // shed after 2 s, and many cost little, so slow clients cannot keep /healthz waiting.
        var limits = ListenerLimits(maxConnections: 512)
        limits.readHeaderTimeout = 2
        return limits
    }()
    /// `service.in_flight_limit_mib` (default 128): the memory budget of requests being read,
    /// decoded or committed across all receivers (`InFlightBudget`), in bytes. The default
    /// admits one maximum batch (16 MiB of body, about 128 MiB decoded) at a time.
    public var inFlightLimit = 128 << 20
    /// The configured extensions (`ui:`, `checkpoints:`, `retention:`, …) in the registry's
    /// order; a section that is absent or says `enabled: false` has none.
    public var extensions: [ConfiguredExtension] = []
    /// What each database does for its pipelines, in the registry's order.
    public var databaseWork: [DatabaseWorkFactory] = []
    /// Every effective value with its source, for `print-config`. Secrets only as fingerprints.
    public var resolved: [ResolvedValue] = []

    /// One configured extension: its section's settings and its builder.
    public struct ConfiguredExtension: Sendable {
        public var id: String
        public var settings: any Sendable
        let builder: ExtensionFactory.Builder

        public func build(_ context: ExtensionContext) throws -> BuiltExtension { try builder(context) }
    }

    /// The settings of the extension configured by `section`, when it is on.
    public func settings<Settings>(of section: String, as type: Settings.Type = Settings.self) -> Settings? {
        extensions.first { $0.id == section }?.settings as? Settings
    }

    /// The built-in component types; the extensions in start order (retention after the
    /// checkpoint signer whose tree it respects).
    public static let builtIns = ComponentRegistry(
        receivers: BuiltInReceivers.all, processors: BuiltInProcessors.all, commitStages: BuiltInCommitStages.all,
        exporters: BuiltInExporters.all,
        extensions: [
            Checkpointer.extensionFactory, ContinuousVerifier.extensionFactory, AlertEvaluator.extensionFactory, Retainer.extensionFactory,
            TimelineServer.extensionFactory,
        ],
        databaseWork: [AuditStoreWork.tokens, AuditStoreWork.agentKeys, AuditStoreWork.gates, TraceWork.factory])

    public static func load(
        file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        registry: ComponentRegistry = builtIns
    ) throws(ConfigError) -> CollectorPlan {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(
                file: file, key: "(file)", problem: "cannot be read: \(error.localizedDescription)",
                fix: "pass an existing YAML file with --config (see configs/)")
        }
        return try parse(yaml: text, file: file, environment: environment, registry: registry)
    }

    public static func parse(
        yaml: String, file: String, environment: [String: String],
        registry: ComponentRegistry = builtIns
    ) throws(ConfigError) -> CollectorPlan {
        let log = ProvenanceLog()
        let root = try ConfigSection(
            path: "", file: file, value: ConfigValue.parse(yaml: yaml, file: file),
            environment: environment, log: log)
        var plan = CollectorPlan(file: file)
        plan.receivers = try components(root.section("receivers"), registry.receivers)
        (plan.processors, plan.commitStages) = try components(
            root.section("processors"), registry.processors,
            registry.commitStages.mapValues(\.component))
        plan.exporters = try components(root.section("exporters"), registry.exporters)
        plan.databaseWork = registry.databaseWork

        let service = try root.section("service")
        let telemetry = try service.section("telemetry")
        let logs = try telemetry.section("logs")
        let level = try logs.string("level", env: "GOVERNANCE_LOG_LEVEL", default: "info")!
        guard let parsedLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw logs.error("level", "is `\(level)`", fix: "use trace, debug, info, notice, warning, error or critical")
        }
        plan.logLevel = parsedLevel
        let format = try logs.string("format", env: "GOVERNANCE_LOG_FORMAT", default: "text")!
        guard let parsedFormat = LogFormat(rawValue: format.lowercased()) else {
            throw logs.error("format", "is `\(format)`", fix: "use text or json")
        }
        plan.logFormat = parsedFormat
        try logs.finish()
        let metrics = try telemetry.section("metrics")
        let endpoint = try metrics.string("endpoint", env: "GOVERNANCE_METRICS_ENDPOINT", default: "127.0.0.1:8888")!
        guard let parsedEndpoint = ListenerEndpoint.parse(endpoint) else {
            throw metrics.error("endpoint", "is `\(endpoint)`", fix: "write host:port, e.g. 127.0.0.1:8888 or [::1]:8888 (port 0 picks a free one)")
        }
        plan.telemetryEndpoint = try metrics.bool("enabled", default: true) ? parsedEndpoint : nil
        plan.telemetryLimits = try ListenerLimits.read(metrics, defaults: plan.telemetryLimits)
        try metrics.finish()
        try telemetry.finish()
        plan.inFlightLimit = try service.int("in_flight_limit_mib", default: plan.inFlightLimit >> 20, range: 1...65_536) << 20

        let pipelines = try service.section("pipelines")
        guard !pipelines.keys.isEmpty else {
            throw service.error("pipelines", "defines no pipeline", fix: "add e.g. `audit: {receivers: [ingest_http], exporters: [postgres]}`")
        }
        var feeding: [String: String] = [:]
        for name in pipelines.keys {
            let section = try pipelines.section(name)
            let pipeline = PipelinePlan(
                name: name,
                receivers: try references(section, "receivers", defined: Set(plan.receivers.keys), required: true),
                processors: try references(section, "processors", defined: Set(plan.processors.keys).union(plan.commitStages.keys), required: false),
                exporters: try references(section, "exporters", defined: Set(plan.exporters.keys), required: true))
            try section.finish()
            let primaries = pipeline.exporters.filter { plan.exporters[$0]!.isPrimary }
            guard primaries.count == 1 else {
                throw section.error(
                    "exporters",
                    primaries.isEmpty
                        ? "has no primary exporter: accepted events must be committed somewhere authoritative"
                        : "has \(primaries.count) primary exporters (\(primaries.joined(separator: ", ")))",
                    fix: "list exactly one `postgres` exporter in this pipeline")
            }
            let types = pipeline.processors.map { plan.processors[$0]?.type ?? plan.commitStages[$0]!.type }
            if let (problem, fix) = CommitStageFactory.placementProblem(types, factories: registry.commitStages) {
                throw section.error("processors", problem, fix: fix)
            }
            for receiver in pipeline.receivers {
                if let other = feeding[receiver] {
                    throw section.error(
                        "receivers", "uses `\(receiver)`, which already feeds pipeline `\(other)`",
                        fix: "give each pipeline its own receiver, e.g. `\(receiver)/\(name)` on another endpoint")
                }
                feeding[receiver] = name
            }
            plan.pipelines.append(pipeline)
        }
        try pipelines.finish()
        try service.finish()
        let facts = ExtensionPlanFacts(
            pipelines: plan.pipelines.map(\.name), chained: Set(plan.pipelines.map(\.name).filter(plan.chains)),
            environment: environment, extensions: Set(registry.extensions.map(\.section).filter(root.keys.contains)))
        for factory in registry.extensions where root.keys.contains(factory.section) {
            guard let (settings, builder) = try factory.configure(root.section(factory.section), facts) else { continue }
            plan.extensions.append(ConfiguredExtension(id: factory.section, settings: settings, builder: builder))
        }
        try root.finish()
        plan.resolved = log.values
        return plan
    }

    /// Reads a `receivers:`/`exporters:` section: ids are `type` or `type/name`.
    private static func components<Built, Context>(_ section: ConfigSection, _ factories: [String: ComponentFactory<Built, Context>])
        throws(ConfigError) -> [String: Component<Built, Context>]
    {
        try components(section, factories, [String: ComponentFactory<Never, Context>]()).0
    }

    /// Reads a section whose ids name types of either kind (`processors:` holds processors and
    /// commit stages; the registry keeps their names apart).
    private static func components<A, CA, B, CB>(
        _ section: ConfigSection, _ first: [String: ComponentFactory<A, CA>],
        _ second: [String: ComponentFactory<B, CB>]
    ) throws(ConfigError) -> ([String: Component<A, CA>], [String: Component<B, CB>]) {
        var result: ([String: Component<A, CA>], [String: Component<B, CB>]) = ([:], [:])
        for id in section.keys {
            let type = String(id.split(separator: "/", maxSplits: 1).first ?? "")
            if let factory = first[type] {
                result.0[id] = Component(
                    id: id, type: type, builder: try factory.configure(section.section(id)), isPrimary: factory.isPrimary, needs: factory.needs)
            } else if let factory = second[type] {
                result.1[id] = Component(
                    id: id, type: type, builder: try factory.configure(section.section(id)), isPrimary: factory.isPrimary, needs: factory.needs)
            } else {
                let known = (Array(first.keys) + Array(second.keys)).sorted().joined(separator: ", ")
                throw section.error(
                    id, "is not a known component type",
                    fix: known.isEmpty ? "remove it: this build has no such components yet" : "use one of: \(known) (optionally as type/name)")
            }
        }
        try section.finish()
        return result
    }

    private static func references(_ section: ConfigSection, _ key: String, defined: Set<String>, required: Bool) throws(ConfigError) -> [String] {
        let ids = try section.stringList(key) ?? []
        if required, ids.isEmpty {
            throw section.error(key, "is empty", fix: "list at least one component defined under top-level `\(key):`")
        }
        for id in ids where !defined.contains(id) {
            throw section.error(
                key, "names `\(id)`, which is not defined under top-level `\(key):`",
                fix: "define `\(id)` there or remove it from this pipeline")
        }
        if Set(ids).count != ids.count {
            throw section.error(key, "lists a component twice", fix: "list each once")
        }
        return ids
    }
}

public enum LogFormat: String, Sendable {
    case text, json
}

extension CollectorPlan {
    /// The database of the first primary exporter in the plan that shares one (for `migrate`,
    /// `verify`, `tail`), built the way the collector would build it. Nothing connects yet.
    public func auditDatabase() throws -> AuditDatabase? {
        for component in exporters.values.sorted(by: { $0.id < $1.id }) where component.isPrimary {
            if case .primary(let exporter) = try component.build(BuildContext(id: component.id, logger: Logger(label: "plan"))),
                let database = exporter.resources.auditDatabase
            {
                return database
            }
        }
        return nil
    }
}

extension CollectorPlan {
    /// The HMAC secret of the first configured commit stage that chains events (for `verify`).
    public func chainSecret() throws -> String? {
        for component in commitStages.values.sorted(by: { $0.id < $1.id }) {
            if let secret = try component.build(BuildContext(id: component.id, logger: Logger(label: "plan"))).resources.get(ChainSecret.self) {
                return secret.value
            }
        }
        return nil
    }
}

extension CollectorPlan {
    /// The database work `pipeline`'s components need.
    func needs(_ pipeline: PipelinePlan) -> Set<String> {
        var needs = Set<String>()
        for id in pipeline.receivers { needs.formUnion(receivers[id]?.needs ?? []) }
        for id in pipeline.processors { needs.formUnion(processors[id]?.needs ?? []) }
        for id in pipeline.exporters { needs.formUnion(exporters[id]?.needs ?? []) }
        return needs
    }

    /// Whether `pipeline` has a commit stage that chains events (shares a `ChainSecret`), which
    /// keys the events the collector writes itself.
    func chains(_ pipeline: String) -> Bool {
        (pipelines.first { $0.name == pipeline }?.processors ?? []).contains { id in
            (try? commitStages[id]?.build(BuildContext(id: id, logger: Logger(label: "plan"))))??.resources.get(ChainSecret.self) != nil
        }
    }

    /// The agent keys every configured `agent_signatures` processor trusts (for `verify`).
    public func configuredAgentKeys() throws -> [AgentPublicKey] {
        try processors.values.sorted { $0.id < $1.id }.flatMap { component in
            try component.build(BuildContext(id: component.id, logger: Logger(label: "plan"))).resources.get(AgentKeyring.self)?.configuredKeys ?? []
        }
    }
}
