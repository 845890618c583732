public import Logging
public import ServiceLifecycle

/// Work a pipeline's database does for it that no configuration section asks for by name: the
/// managed-token cache, the refresher of each `agent_signatures` keyring, the assembler of
/// staged traces. Each factory is built once per database (two primaries on one database share
/// one), from the pipelines that keep their events there. What it gives each pipeline (its
/// managed tokens, its receivers' span staging) is in place before the pipelines are built, and
/// its services start after the exporters and before the receivers that depend on them.
public struct DatabaseWorkFactory: Sendable {
    public typealias Builder = @Sendable (DatabaseWorkContext) throws -> DatabaseWork
    /// Names the work in logs (`component`) and in the `needs` of the components that ask for it.
    public let name: String
    public let build: Builder

    public init(name: String, build: @escaping Builder) {
        self.name = name
        self.build = build
    }
}

/// What a database's work is built from.
public struct DatabaseWorkContext: Sendable {
    public var logger: Logger
    public var telemetry: Telemetry
    public var clock: any Clock<Duration>
    /// What the primary shares (the database), one instance per database.
    public var database: SharedResources
    /// The pipelines whose events are kept in this database, in configured order.
    public var pipelines: [PipelineFacts]

    public init(
        logger: Logger, telemetry: Telemetry = .disabled, clock: any Clock<Duration> = ContinuousClock(),
        database: SharedResources, pipelines: [PipelineFacts]
    ) {
        (self.logger, self.telemetry, self.clock, self.database, self.pipelines) = (logger, telemetry, clock, database, pipelines)
    }

    /// What one pipeline asks of its database.
    public struct PipelineFacts: Sendable {
        public var name: String
        /// Its ingest processors by component id, each with what it shares (e.g. an `AgentKeyring`).
        public var processors: [(id: String, resources: SharedResources)]
        /// The work its components' factories declare they need (`ComponentFactory.needs`).
        public var needs: Set<String>

        public init(name: String, processors: [(id: String, resources: SharedResources)] = [], needs: Set<String> = []) {
            (self.name, self.processors, self.needs) = (name, processors, needs)
        }
    }
}

/// A database's work as built: what each pipeline gets, and the services to run.
public struct DatabaseWork: Sendable {
    /// By pipeline name: what its `Pipeline` (its `ManagedTokens`) and its receivers (e.g. where
    /// spans wait) are given.
    public var pipelineResources: [String: SharedResources]
    /// Made once the pipelines exist (e.g. an assembler that submits to them), started before
    /// the receivers.
    public var services: @Sendable ([String: Pipeline]) -> [any Service]

    public init(
        pipelineResources: [String: SharedResources] = [:],
        services: @escaping @Sendable ([String: Pipeline]) -> [any Service] = { _ in [] }
    ) {
        self.pipelineResources = pipelineResources
        self.services = services
    }
}
