public import Config
import Foundation
public import Pipeline

/// Settings of the `agent_signatures` processor.
public struct AgentSignaturesConfig: Sendable {
    /// `require_signature` / `GOVERNANCE_REQUIRE_AGENT_SIGNATURE`: refuse (422, naming the
    /// field) every event whose verdict is not `signed`. Default false: every event is stored
    /// with its verdict.
    public var requireSignature = false
    /// `keys`: public keys trusted besides the database's, each `{public_key_pem}` or
    /// `{public_key_file}`. Default: none.
    public var keys: [AgentPublicKey] = []
    /// `keys_refresh_interval`: how often the database's keys and revocations are reloaded.
    /// Default 1 s.
    public var keysRefreshInterval = 1.0

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> AgentSignaturesConfig {
        var c = AgentSignaturesConfig()
        c.requireSignature = try section.bool("require_signature", env: "GOVERNANCE_REQUIRE_AGENT_SIGNATURE", default: c.requireSignature)
        c.keysRefreshInterval = try section.double("keys_refresh_interval", default: c.keysRefreshInterval, range: 0.05...3600)
        let fix =
            "paste the agent's public key as the SDK prints it (`Ed25519Signer.public_key_pem`, or `openssl pkey -pubout`): -----BEGIN PUBLIC KEY----- …"
        for entry in try section.sections("keys") {
            let inline = try entry.text("public_key_pem")
            let file = try entry.string("public_key_file")
            let key: AgentPublicKey
            switch (inline, file) {
            case (let (pem, source, detail)?, nil):
                do throws(AgentKeyError) { key = try AgentPublicKey(pem: pem) } catch { throw entry.error("public_key_pem", error.problem, fix: fix) }
                entry.record("public_key_pem", "fingerprint \(key.fingerprint)", source, detail)
            case (nil, let path?):
                guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw entry.error(
                        "public_key_file", "names `\(path)`, which cannot be read",
                        fix: "give the path of a readable PEM file holding the agent's public key")
                }
                do throws(AgentKeyError) { key = try AgentPublicKey(pem: pem) } catch {
                    throw entry.error("public_key_file", "`\(path)` \(error.problem)", fix: fix)
                }
            case (.some, .some):
                throw entry.error("public_key_pem", "and public_key_file are both set", fix: "keep one of them")
            case (nil, nil):
                throw entry.error("public_key_pem", "is required (or public_key_file)", fix: fix)
            }
            try entry.finish()
            if c.keys.contains(where: { $0.fingerprint == key.fingerprint }) {
                throw entry.error("public_key_pem", "repeats key \(key.fingerprint)", fix: "list each key once")
            }
            c.keys.append(key)
        }
        try section.finish()
        return c
    }
}

/// `agent_signatures`: checks each event's Ed25519 agent signature (the reference SDK's agent
/// identity) against the keys in its `AgentKeyring` and stores the collector's verdict as
/// `signature_status` (`SignatureVerdict`), keeping a different client claim in
/// `client_signature_status`. With `require_signature`, any verdict but `signed` is refused.
/// Keys come from the configuration and, through an `AgentKeyRefresher` the collector runs for
/// the pipeline's database, from `governance_agent_keys`. Runs on the request's task: one
/// snapshot lookup and at most one signature check, no I/O.
public struct AgentSignatureProcessor: EventProcessor {
    public let keyring: AgentKeyring
    public let requireSignature: Bool
    private let verdicts: CounterFamily

    public init(config: AgentSignaturesConfig, telemetry: Telemetry = .disabled, processor: String = "agent_signatures") {
        keyring = AgentKeyring(
            configured: config.keys, refreshInterval: .milliseconds(Int64(config.keysRefreshInterval * 1000)),
            telemetry: telemetry, labels: [("processor", processor)])
        requireSignature = config.requireSignature
        verdicts = telemetry.counterFamily("governance_agent_signature_events_total", [("processor", processor)], varying: "status")
    }

    public var resources: SharedResources {
        var shared = SharedResources()
        shared.provide(keyring)
        return shared
    }

    public func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        let verdict = SignatureVerdict.check(event, keyring: keyring)
        verdicts.increment(verdict.status.rawValue)
        if requireSignature, verdict.status != .signed {
            throw EventRejection(
                field: verdict.field ?? "payload.signature_hex", message: verdict.problem ?? "is not a valid agent signature", status: 422)
        }
        var event = event
        let claimed = event.clientSignatureStatus ?? event.signatureStatus
        event.signatureStatus = verdict.status.rawValue
        event.clientSignatureStatus = claimed == event.signatureStatus ? nil : claimed
        return event
    }

    public static let factory = ProcessorFactory(type: "agent_signatures") { section throws(ConfigError) in
        let config = try AgentSignaturesConfig.read(section)
        return { context in AgentSignatureProcessor(config: config, telemetry: context.telemetry, processor: context.id) }
    }
}
