import ArgumentParser
import AuditStore
import Config
import Foundation
import Pipeline

/// `agent-key`: the reference SDK's agent key registry (`governance_agent_keys` and its
/// revocations) in the audit database, which `agent_signatures` processors reload every
/// `keys_refresh_interval`.
struct AgentKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-key",
        abstract: "Register, revoke and list agents' Ed25519 public keys (the SDK's governance_agent_keys).",
        subcommands: [Add.self, Revoke.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an agent's public key (SPKI PEM); print its fingerprint.")
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.") var dsn: String?
        @Option(help: "The agent the key belongs to (the SDK registers its keys as governance.default).") var agent: String
        @Option(help: "A file holding the public key: -----BEGIN PUBLIC KEY----- ….") var pem: String

        func run() async throws {
            guard let text = try? String(contentsOfFile: pem, encoding: .utf8) else { throw fail("agent-key add", "--pem \(pem) cannot be read") }
            let key: AgentPublicKey
            do throws(AgentKeyError) { key = try AgentPublicKey(pem: text) } catch { throw fail("agent-key add", "--pem \(pem) \(error.problem)") }
            let added = try withTables("agent-key add", options, dsn) { try AgentKeyTable.add(key, agentID: agent, $0) }
            printSafe(added ? "registered agent key \(key.fingerprint) for \(agent)" : "agent key \(key.fingerprint) was already registered")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an agent key: collectors store later events signed with it as revoked_key.",
            discussion: "Recorded at the table's current last chain_seq, as the SDK records revocations (without the SDK's chain event).")
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.") var dsn: String?
        @Option(help: "The key's fingerprint (32 hex digits, as `agent-key list` shows).") var fingerprint: String
        @Option(help: "Why (kept in the revocation row).") var reason: String
        @Option(help: "Who revokes it (kept in the revocation row).") var `operator`: String = "governance-collector"

        func run() async throws {
            guard AgentPublicKey.isFingerprint(fingerprint) else { throw fail("agent-key revoke", "--fingerprint is not 32 hexadecimal digits") }
            let fingerprint = fingerprint.lowercased()
            let revoked = try withTables("agent-key revoke", options, dsn) {
                try AgentKeyTable.revoke(fingerprint: fingerprint, reason: reason, operatorID: `operator`, $0)
            }
            print(revoked ? "revoked agent key \(fingerprint)" : "agent key \(fingerprint) was already revoked at this chain_seq")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered and revoked agent keys.")
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.") var dsn: String?

        func run() async throws {
            let listed = try withTables("agent-key list", options, dsn) { try AgentKeyTable.list($0) }
            for key in listed {
                let state = key.revokedAtChainSeq.map { "revoked at chain_seq \($0): \(key.reason ?? "")" } ?? "active"
                let registered =
                    key.agentID.map { "agent=\($0) activated_at_chain_seq=\(key.activatedAtChainSeq ?? "?") created_at=\(key.createdAt ?? "?")" }
                    ?? "not registered in this database"
                print([key.fingerprint, registered, state].map(TerminalText.safe).joined(separator: "\t"))
            }
            if listed.isEmpty { print("no agent keys registered") }
        }
    }
}

/// Runs `body` on the audit database once its agent key tables exist; PostgreSQL errors exit 1.
private func withTables<T>(_ command: String, _ options: ConfigOption, _ dsn: String?, _ body: (PGConnection) throws -> T) throws -> T {
    let database = try options.database(overriddenBy: dsn)
    do {
        let connection = try database.connect(applicationName: "governance-collector \(command)")
        guard try AgentKeyTable.exists(connection) else {
            throw fail(command, "the database has no governance_agent_keys table yet; run `governance-collector migrate` first", status: 1)
        }
        return try body(connection)
    } catch let error as PGError {
        throw fail(command, "PostgreSQL: \(error)", status: 1)
    }
}

private func fail(_ command: String, _ message: String, status: Int32 = 2) -> ExitCode {
    FileHandle.standardError.write(Data("\(command): \(message)\n".utf8))
    return ExitCode(status)
}
