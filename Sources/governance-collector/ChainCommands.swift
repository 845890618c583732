import ArgumentParser
import AuditStore
import Collector
import Foundation

struct ChainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "The HMAC chain's key.",
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate the chain key as the reference SDK does: a marker row MACed under both keys, the new key version registered.",
            discussion: """
                The outgoing key is GOVERNANCE_AUDIT_SECRET (or the chain processor's secret). Stop or pause \
                every writer first (collectors and SDK processes), then restart them with the new secret: \
                a row written under the old key after the marker fails verification. `verify --key` then \
                checks rows of either key.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
        var dsn: String?
        @Option(name: .customLong("new-key"), help: "The incoming key: env://NAME (base64, or the text when not base64) or file:///path.")
        var newKey: String
        @Option(help: "Who rotates (kept in the marker's metadata).") var operatorID = "cli"
        @Option(help: "Why: scheduled, incident or policy (kept in the marker's metadata).") var reason = "scheduled"

        func run() async throws {
            func usage(_ message: String) -> ExitCode {
                FileHandle.standardError.write(Data("chain rotate: \(message)\n".utf8))
                return ExitCode(2)
            }
            let environment = ProcessInfo.processInfo.environment
            guard let outgoing = try options.chainSecret() else {
                throw usage("no outgoing secret: set GOVERNANCE_AUDIT_SECRET or configure the chain processor")
            }
            guard let incoming = ChainKeyring.resolve(uri: newKey, environment: environment) else {
                throw usage("--new-key \(newKey) is not readable")
            }
            guard String(bytes: incoming, encoding: .utf8) != nil, incoming.count >= 16 else {
                throw usage("the new key must be at least 16 bytes of UTF-8 text: collectors and SDKs read GOVERNANCE_AUDIT_SECRET as text")
            }
            let database = try options.database(overriddenBy: dsn)
            do {
                let connection = try database.connect(applicationName: "governance-collector chain rotate")
                _ = try database.migrate(connection)
                let result = try ChainKeyRotation(connection: connection).rotate(
                    outgoing: Array(outgoing.utf8), incoming: incoming, operatorID: operatorID, reason: reason)
                print(
                    "rotated: marker chain_seq \(result.markerChainSeq) (event \(result.markerEventID.uuidString.lowercased())), key version \(result.outgoingVersion) → \(result.incomingVersion)"
                )
                print("now restart every writer with the new secret as GOVERNANCE_AUDIT_SECRET")
            } catch let error as ChainKeyRotation.Failure {
                throw usage("\(error)")
            } catch let error as PGError {
                throw usage("PostgreSQL: \(error)")
            }
        }
    }
}
