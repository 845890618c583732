package import Config
import Foundation

/// The `checkpoints:` section: signed checkpoints over the audit table (docs/components/checkpoints.md).
package struct CheckpointsConfig: Sendable {
    package var signer: NoteSigner
    /// `interval` (seconds, default 60): a new checkpoint at most this long after the last, when rows were added.
    package var interval: Double = 60
    /// `max_events` (default 100,000): a checkpoint after this many new rows, whatever the interval.
    package var maxEvents = 100_000
    /// `witnesses.directory`: each checkpoint is also written here (`<size>.checkpoint`, `latest.checkpoint`).
    package var witnessDirectory: String?
    /// `witnesses.audit_event`: each checkpoint is also submitted as an `audit.checkpoint` event
    /// through the pipeline, so its exporters (the platform bridge, OTLP) carry it off-site.
    package var witnessEvents = false
    /// `pipeline`: the pipeline whose primary's database is checkpointed.
    package var pipeline = ""

    package init(signer: NoteSigner) {
        self.signer = signer
    }

    /// Reads the section; the private key comes from `signing_key_file` (mode 0600 or
    /// stricter) or the environment (`GOVERNANCE_CHECKPOINT_SIGNING_KEY`), never from the YAML.
    package static func read(_ section: ConfigSection, pipelines: [String]) throws(ConfigError) -> CheckpointsConfig? {
        // Every setting is checked even when disabled, so turning it on later finds no old typo.
        let enabled = try section.bool("enabled", default: true)
        let keyFile = try section.string("signing_key_file", env: "GOVERNANCE_CHECKPOINT_KEY_FILE").flatMap { $0.isEmpty ? nil : $0 }
        let interval = try section.double("interval", default: 60, range: 0.01...86400)
        let maxEvents = try section.int("max_events", default: 100_000, range: 1...10_000_000)
        var witnessDirectory: String?
        var witnessEvents = false
        if section.keys.contains("witnesses") {
            let witnesses = try section.section("witnesses")
            witnessDirectory = try witnesses.string("directory")
            witnessEvents = try witnesses.bool("audit_event", default: false)
            try witnesses.finish()
        }
        let pipeline = try section.pipeline(among: pipelines, whose: "database is checkpointed")
        try section.finish()
        guard enabled else { return nil }

        let keygen = "make one with `governance-collector checkpoint keygen --name example.com/audit --out /etc/governance/checkpoint.key`"
        let encoded: String
        if let keyFile {
            encoded = try readKeyFile(keyFile, section: section, fix: keygen)
        } else if let key = section.environment["GOVERNANCE_CHECKPOINT_SIGNING_KEY"], !key.isEmpty {
            encoded = key
        } else {
            throw section.error(
                "signing_key_file", "is not set, and neither is GOVERNANCE_CHECKPOINT_SIGNING_KEY",
                fix: "\(keygen), then set `signing_key_file:` to it (or `enabled: false`)")
        }
        let signer: NoteSigner
        do { signer = try NoteSigner(encoded: encoded) } catch {
            throw section.error("signing_key_file", "holds a key that \(error)", fix: keygen)
        }
        var config = CheckpointsConfig(signer: signer)
        config.interval = interval
        config.maxEvents = maxEvents
        config.witnessDirectory = witnessDirectory
        config.witnessEvents = witnessEvents
        config.pipeline = pipeline
        return config
    }

    /// A private key file's text; refused unless only its owner can read it.
    static func readKeyFile(_ path: String, section: ConfigSection, fix: String) throws(ConfigError) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else {
            throw section.error("signing_key_file", "`\(path)` cannot be read", fix: fix)
        }
        guard mode & 0o077 == 0 else {
            throw section.error(
                "signing_key_file", "`\(path)` has mode \(String(mode & 0o777, radix: 8)): others can read the private key",
                fix: "chmod 600 \(path)")
        }
        return text
    }
}
