package import Config
import AuditStore
import Foundation
package import Pipeline

/// The `verification:` section: the continuous verifier over a pipeline's database
/// (docs/components/verification.md).
package struct VerificationConfig: Sendable {
    /// `interval` (seconds, default 30): how long the verifier waits between steps once caught up.
    package var interval: Double = 30
    /// `public_keys`: the checkpoint keys it trusts (each `name+hash+base64` or a file holding
    /// one), oldest first after a rotation. Default: the key of this collector's signer.
    package var trusted: [NoteVerifier] = []
    package var pipeline = ""

    package static func read(_ section: ConfigSection, pipelines: [String], extensions: Set<String>) throws(ConfigError) -> VerificationConfig? {
        let enabled = try section.bool("enabled", default: true)
        var config = VerificationConfig()
        config.interval = try section.double("interval", default: 30, range: 0.01...86400)
        for key in try section.stringList("public_keys") ?? [] {
            let text = FileManager.default.fileExists(atPath: key) ? (try? String(contentsOfFile: key, encoding: .utf8)) ?? "" : key
            do { config.trusted.append(try NoteVerifier(encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))) } catch {
                throw section.error(
                    "public_keys", "`\(key)` is not a checkpoint public key or a file holding one: \(error)",
                    fix: "use the `.pub` file `governance-collector checkpoint keygen` wrote, or its one line")
            }
        }
        config.pipeline = try section.pipeline(among: pipelines, whose: "database is verified")
        try section.finish()
        if config.trusted.isEmpty, !extensions.contains("checkpoints") {
            throw section.error(
                "public_keys", "is empty, and this collector has no `checkpoints:` signer whose key it could trust",
                fix: "list the signer's public key (the `.pub` file `governance-collector checkpoint keygen` wrote)")
        }
        return enabled ? config : nil
    }
}

extension ContinuousVerifier {
    /// `verification:`: the continuous verifier of its pipeline's database, trusting the keys
    /// configured or, by default, the key of this collector's checkpoint signer.
    package static let extensionFactory = ExtensionFactory(section: "verification") { section, plan throws(ConfigError) in
        guard let config = try VerificationConfig.read(section, pipelines: plan.pipelines, extensions: plan.extensions) else { return nil }
        return (
            config,
            { context in
                let database = try context.auditDatabase(of: config.pipeline)
                var trusted = config.trusted
                if trusted.isEmpty, let signed = context.provided.get(SignedDatabase.self), signed.database.isSameDatabase(as: database) {
                    trusted = [signed.verifier]
                }
                guard !trusted.isEmpty else {
                    throw ConfigError(
                        file: "", key: "verification.public_keys", problem: "is empty, and this collector signs no checkpoints of that database",
                        fix: "list the signer's public key (the `.pub` file `governance-collector checkpoint keygen` wrote)")
                }
                return BuiltExtension(
                    service: ContinuousVerifier(
                        database: database, trusted: trusted, chainSecret: context.chainSecrets[config.pipeline].map { Array($0.utf8) },
                        interval: config.interval, telemetry: context.telemetry, clock: context.clock, logger: context.logger))
            }
        )
    }
}
