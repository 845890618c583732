import ArgumentParser
import AuditStore
import Foundation
import Transparency

struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Signed checkpoints over the audit table: make a signing key, verify the table with only the public key.",
        subcommands: [Keygen.self, VerifyCheckpoint.self])

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new Ed25519 signing key (mode 0600) and its public key (<out>.pub); print the public key.")
        @Option(help: "The log's name, also each checkpoint's origin line: a schema-less URL such as example.com/audit.")
        var name: String
        @Option(help: "Where to write the private key; refused if the file exists.")
        var out: String

        func run() async throws {
            do {
                let signer = try NoteSigner.generate(name: name)
                try writeNew(out, signer.encoded + "\n", mode: 0o600)
                try writeNew(out + ".pub", signer.verifier.encoded + "\n", mode: 0o644)
                print(signer.verifier.encoded)
                print("key hash \(signer.verifier.keyHash); private key in \(out) (mode 0600), public key in \(out).pub")
            } catch {
                FileHandle.standardError.write(Data("checkpoint keygen: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }

        /// Creates `path` with `mode` (O_EXCL: never overwrites a key).
        private func writeNew(_ path: String, _ text: String, mode: mode_t) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
            guard fd >= 0 else { throw KeygenError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard fchmod(fd, mode) == 0, write(fd, text, text.utf8.count) == text.utf8.count else {
                throw KeygenError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    struct KeygenError: Error, CustomStringConvertible { var description: String }

    struct VerifyCheckpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute the Merkle tree from the table and check it against a signed checkpoint. Exit 0 clean, 1 tampered, 2 usage error.",
            discussion: "Needs only the log's public key, never the HMAC secret. Every stored checkpoint up to the one checked is checked on the way."
        )
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
        var dsn: String?
        @Option(
            name: .customLong("public-key"),
            help: "A trusted verifier key `name+hash+base64`, or a file holding one (repeatable: list old keys after a rotation).")
        var publicKeys: [String] = []
        @Option(help: "A signed checkpoint file (e.g. one a witness kept); default: the newest in the database.")
        var checkpoint: String?

        func run() async throws {
            func usage(_ message: String) -> ExitCode {
                FileHandle.standardError.write(Data("checkpoint verify: \(message)\n".utf8))
                return ExitCode(2)
            }
            guard !publicKeys.isEmpty else { throw usage("--public-key is required (the .pub file keygen wrote, or its text)") }
            var trusted: [NoteVerifier] = []
            for key in publicKeys {
                let text = FileManager.default.fileExists(atPath: key) ? ((try? String(contentsOfFile: key, encoding: .utf8)) ?? "") : key
                do { trusted.append(try NoteVerifier(encoded: text)) } catch { throw usage("--public-key \(key): \(error)") }
            }
            var note: String?
            if let checkpoint {
                guard let text = try? String(contentsOfFile: checkpoint, encoding: .utf8) else { throw usage("cannot read \(checkpoint)") }
                note = text
            }
            let database = try options.database(overriddenBy: dsn)
            let report: CheckpointVerifier.Report
            do {
                report = try CheckpointVerifier(connection: database.connect(applicationName: "governance-collector checkpoint verify"))
                    .verify(note: note, trusted: trusted)
            } catch let error as PGError {
                throw usage("PostgreSQL: \(error)")
            } catch {
                printSafe("checkpoint verify FAILED: \(error)")
                throw ExitCode(1)
            }
            let c = report.checkpoint
            printSafe("checkpoint \(c.origin) tree size \(c.size), signed by \(report.signer.name)+\(report.signer.keyHash)")
            let allRemoved = report.retention.map { c.size <= $0.size } ?? false
            if let cut = report.retention {
                print(
                    "removed by retention up to \(cut.cutoff): the first \(cut.size) leaves (seal \(cut.sealID)); the tree continues from the state the seal recorded"
                )
            }
            for problem in report.problems { printSafe(problem) }
            if report.isClean, allRemoved {
                print("this checkpoint's rows were all removed by retention: its signature verifies, and the newest checkpoint checks the rest")
            } else if report.isClean {
                print(
                    "verified \(report.rowsChecked) rows against \(report.checkedCheckpoints.count) checkpoint(s): the table matches every signed root"
                )
            } else {
                print("checkpoint verify FAILED: \(report.problems.count) problem(s)")
            }
            if report.rowsAfter > 0 { print("\(report.rowsAfter) row(s) committed after this checkpoint are not covered until the next one") }
            if !report.isClean { throw ExitCode(1) }
        }
    }
}

struct Prove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an inclusion proof for an event, or a consistency proof between two checkpoints, as JSON.",
        discussion: "The format and a verifier are in docs/components/checkpoints.md.")
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?
    @Argument(help: "The event to prove included.")
    var eventID: String?
    @Option(help: "Prove against the checkpoint of this tree size (default: the newest).")
    var checkpointSize: Int?
    @Option(parsing: .upToNextOption, help: "OLD NEW: two stored checkpoints' tree sizes.")
    var consistency: [Int] = []

    func run() async throws {
        func usage(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("prove: \(message)\n".utf8))
            return ExitCode(2)
        }
        let database = try options.database(overriddenBy: dsn)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            let prover = CheckpointProver(connection: try database.connect(applicationName: "governance-collector prove"))
            let json: Data
            if !consistency.isEmpty {
                guard consistency.count == 2, eventID == nil else { throw usage("--consistency takes two tree sizes, OLD NEW, and no event id") }
                json = try encoder.encode(prover.consistency(oldSize: consistency[0], newSize: consistency[1]))
            } else {
                guard let eventID, let id = UUID(uuidString: eventID) else { throw usage("give an event id (UUID), or --consistency OLD NEW") }
                json = try encoder.encode(prover.inclusion(of: id, checkpointSize: checkpointSize))
            }
            print(String(decoding: json, as: UTF8.self))
        } catch let error as CheckpointProver.Failure {
            FileHandle.standardError.write(Data("prove: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as PGError {
            throw usage("PostgreSQL: \(error)")
        }
    }
}
