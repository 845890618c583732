public import Config
public import Logging
public import ServiceLifecycle

/// A component kind of its own, as the OpenTelemetry Collector has: a service beside the
/// pipelines (the timeline UI, the checkpoint signer, retention), configured by a top-level
/// section named for it, built after the pipelines from what they share, and started after
/// the receivers (so stopped before they drain), in the registry's order.
public struct ExtensionFactory: Sendable {
    public typealias Builder = @Sendable (ExtensionContext) throws -> BuiltExtension
    /// The top-level configuration section it reads, also its component id (`ui`, `retention`).
    public let section: String
    /// Reads the section and checks it against the rest of the plan: its settings (for commands
    /// that act on them without running it) and its builder; nil when the section turns it off.
    public let configure: @Sendable (ConfigSection, ExtensionPlanFacts) throws(ConfigError) -> (settings: any Sendable, build: Builder)?

    public init(
        section: String,
        configure: @escaping @Sendable (ConfigSection, ExtensionPlanFacts) throws(ConfigError) -> (settings: any Sendable, build: Builder)?
    ) {
        self.section = section
        self.configure = configure
    }
}

/// What an extension's configuration may check against the rest of the plan.
public struct ExtensionPlanFacts: Sendable {
    /// The pipelines' names, in configured order.
    public var pipelines: [String]
    /// The pipelines with a commit stage that chains the events the collector writes itself.
    public var chained: Set<String>
    public var environment: [String: String]
    /// The extension sections configured (present, whether or not they turn themselves off).
    public var extensions: Set<String>

    public init(pipelines: [String], chained: Set<String>, environment: [String: String], extensions: Set<String> = []) {
        (self.pipelines, self.chained, self.environment, self.extensions) = (pipelines, chained, environment, extensions)
    }
}

/// What an extension is built with: the built pipelines and what each shares.
public struct ExtensionContext: Sendable {
    public var id: String
    public var logger: Logger
    public var telemetry: Telemetry
    public var clock: any Clock<Duration>
    public var pipelines: [String: Pipeline]
    /// Per pipeline: what its primary shares (its database), one instance per database.
    public var resources: [String: SharedResources]
    /// Per pipeline: its egress (the redaction of what leaves it).
    public var egress: [String: Egress]
    /// Per pipeline: the secret its chain keys the collector's own rows with, if any.
    public var chainSecrets: [String: String]
    /// What the extensions built before this one provide (e.g. the checkpoint signer's database).
    public var provided: SharedResources
    /// The collector's readiness checks, by name.
    public var readiness: @Sendable () -> [String: String]

    public init(
        id: String, logger: Logger, telemetry: Telemetry = .disabled, clock: any Clock<Duration> = ContinuousClock(),
        pipelines: [String: Pipeline] = [:], resources: [String: SharedResources] = [:], egress: [String: Egress] = [:],
        chainSecrets: [String: String] = [:], provided: SharedResources = SharedResources(),
        readiness: @escaping @Sendable () -> [String: String] = { [:] }
    ) {
        (self.id, self.logger, self.telemetry, self.clock) = (id, logger, telemetry, clock)
        (self.pipelines, self.resources, self.egress, self.chainSecrets) = (pipelines, resources, egress, chainSecrets)
        (self.provided, self.readiness) = (provided, readiness)
    }
}

/// A built extension: its service, and what it provides to the extensions after it.
public struct BuiltExtension: Sendable {
    public var service: any Service
    public var provides: SharedResources

    public init(service: any Service, provides: SharedResources = SharedResources()) {
        self.service = service
        self.provides = provides
    }
}
