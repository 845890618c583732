import AuditStore
import Config
package import Pipeline

extension TimelineServer {
    /// `ui:`: the timeline web UI over its pipeline's database, with the pipeline's chain secret
    /// (for verify) and redaction (for the detail page).
    package static let extensionFactory = ExtensionFactory(section: "ui") { section, plan throws(ConfigError) in
        guard let configured = try TimelineConfig.read(section, pipelines: plan.pipelines) else { return nil }
        return (
            configured,
            { context in
                var config = configured
                let database = try context.auditDatabase(of: config.pipeline)
                config.auditSecret = context.chainSecrets[config.pipeline]
                let server = TimelineServer(
                    config: config, database: database, pipeline: context.pipelines[config.pipeline],
                    redactor: context.egress[config.pipeline]?.redaction.redactor ?? Redactor(),
                    telemetry: context.telemetry, health: context.readiness, clock: context.clock, logger: context.logger)
                return BuiltExtension(service: server)
            }
        )
    }
}
