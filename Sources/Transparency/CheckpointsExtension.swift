package import AuditStore
import Config
package import Pipeline

/// The database the checkpoint signer keeps a tree of, provided to the extensions built after
/// it (retention removes only what a signed checkpoint covers there).
package struct SignedDatabase: Sendable {
    package let database: AuditDatabase
    /// The signer's public key, which this collector's continuous verifier trusts by default.
    package let verifier: NoteVerifier
}

extension Checkpointer {
    /// `checkpoints:`: the signer of checkpoints over its pipeline's database.
    package static let extensionFactory = ExtensionFactory(section: "checkpoints") { section, plan throws(ConfigError) in
        guard let config = try CheckpointsConfig.read(section, pipelines: plan.pipelines) else { return nil }
        if config.witnessEvents, !plan.chained.contains(config.pipeline) {
            throw section.error(
                "witnesses.audit_event", "is on, but pipeline `\(config.pipeline)` has no chain processor to key the checkpoint events",
                fix: "add `chain` to that pipeline's processors, or turn audit_event off")
        }
        return (
            config,
            { context in
                let database = try context.auditDatabase(of: config.pipeline)
                var provides = SharedResources()
                provides.provide(SignedDatabase(database: database, verifier: config.signer.verifier))
                return BuiltExtension(
                    service: Checkpointer(
                        config: config, database: database, pipeline: context.pipelines[config.pipeline],
                        telemetry: context.telemetry, clock: context.clock, logger: context.logger), provides: provides)
            }
        )
    }
}
