import Logging
package import Pipeline
import ServiceLifecycle

/// What every audit database does for its pipelines in the background.
package enum AuditStoreWork {
    /// The managed-token cache: receivers accept the tokens issued into the database, and one
    /// cache refreshes them however many pipelines share it.
    package static let tokens = DatabaseWorkFactory(name: "tokens") { context in
        guard let database = context.database.auditDatabase else { return DatabaseWork() }
        var resources = SharedResources()
        resources.provide(database.tokens as any ManagedTokens)
        return DatabaseWork(
            pipelineResources: Dictionary(uniqueKeysWithValues: context.pipelines.map { ($0.name, resources) }),
            services: { _ in [database.tokens] })
    }

    /// One refresher per `agent_signatures` keyring, loading the keys registered in the database
    /// its pipeline keeps events in.
    package static let agentKeys = DatabaseWorkFactory(name: "agent_keys") { context in
        guard let database = context.database.auditDatabase else { return DatabaseWork() }
        let refreshers = context.pipelines.flatMap(\.processors).compactMap { processor -> AgentKeyRefresher? in
            guard let keyring = processor.resources.get(AgentKeyring.self) else { return nil }
            var logger = context.logger
            logger[metadataKey: "component"] = "\(processor.id)"
            return AgentKeyRefresher(database: database, keyring: keyring, interval: keyring.refreshInterval, clock: context.clock, logger: logger)
        }
        return DatabaseWork(services: { _ in refreshers })
    }

    /// The approval gates, for the pipelines whose receivers serve the SDK's gate bridge
    /// (`needs: ["gates"]`).
    package static let gates = DatabaseWorkFactory(name: "gates") { context in
        let serving = context.pipelines.filter { $0.needs.contains("gates") }
        guard let database = context.database.auditDatabase, !serving.isEmpty else { return DatabaseWork() }
        var resources = SharedResources()
        resources.provide(PostgresGates(database: database) as any ApprovalGates)
        return DatabaseWork(pipelineResources: Dictionary(uniqueKeysWithValues: serving.map { ($0.name, resources) }))
    }
}
