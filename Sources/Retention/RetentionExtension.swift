import AuditStore
import Config
package import Pipeline
import Transparency

extension Retainer {
    /// `retention:`: sealed removal of old rows from its pipeline's database, keyed with the
    /// pipeline's chain secret (the seal is an audit event).
    package static let extensionFactory = ExtensionFactory(section: "retention") { section, plan throws(ConfigError) in
        guard let config = try RetentionConfig.read(section, pipelines: plan.pipelines) else { return nil }
        if !plan.chained.contains(config.pipeline), plan.environment["GOVERNANCE_AUDIT_SECRET"].map({ !$0.isEmpty }) != true {
            throw section.error(
                "pipeline",
                "`\(config.pipeline)` has no chain processor and GOVERNANCE_AUDIT_SECRET is not set: the seal is an audit event and needs the chain's secret",
                fix: "add `chain` to that pipeline's processors, or set GOVERNANCE_AUDIT_SECRET")
        }
        return (
            config,
            { context in
                let database = try context.auditDatabase(of: config.pipeline)
                let secret = context.chainSecrets[config.pipeline] ?? ""  // the plan refused a pipeline without one
                let checkpointed = context.provided.get(SignedDatabase.self)?.database.isSameDatabase(as: database) ?? false
                return BuiltExtension(
                    service: Retainer(
                        config: config, secret: Array(secret.utf8), checkpointed: checkpointed, database: database,
                        telemetry: context.telemetry, clock: context.clock, logger: context.logger))
            }
        )
    }
}
