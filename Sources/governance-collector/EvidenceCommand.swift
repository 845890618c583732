import ArgumentParser
import AuditStore
import Collector
import Config
import Crypto
import Foundation
import Pipeline
import Transparency
import ZIPFoundation

struct Evidence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an evidence bundle (a zip) of the events created in a time range, which an auditor checks offline.",
        discussion: """
            The bundle holds the events as the checkpoints sign them, the signed checkpoint that covers them and the tree state \
            to recompute its root, a consistency proof to the newest checkpoint, the agent keys and revocations, the retention \
            seals that reach into the range, the chain key's fingerprint and a manifest of every file's SHA-256 signed with the \
            checkpoint key. Check it with scripts/verify_evidence.py and the log's public key (docs/components/evidence.md).
            """)
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?
    @Option(help: "Created at or after this time (RFC 3339, or 2026-11-25T09:30 as UTC).") var from: String
    @Option(help: "Created before this time.") var to: String
    @Option(help: "Only this workflow.") var workflow: String?
    @Option(help: "The zip file to write (an existing file is refused).") var out: String

    func run() async throws {
        func fail(_ message: String, status: Int32 = 2) -> ExitCode {
            FileHandle.standardError.write(Data("evidence: \(message)\n".utf8))
            return ExitCode(status)
        }
        let (filter, problems) = EventFilter.parse(["from": from, "to": to])
        if let problem = problems.first { throw fail(problem) }
        guard let start = filter.from, let end = filter.to, start < end else { throw fail("--from must be before --to") }
        guard !FileManager.default.fileExists(atPath: out) else { throw fail("\(out) exists: give a new file") }
        let plan = try options.plan()
        guard let checkpoints = plan.settings(of: "checkpoints", as: CheckpointsConfig.self) else {
            throw fail("the manifest is signed with the checkpoint key: configure the checkpoints section (signing_key_file)")
        }
        let configSHA256 = FileManager.default.contents(atPath: options.config).map { Array(SHA256.hash(data: $0)).hexString }
        let database = try options.database(overriddenBy: dsn)
        let parts = URL(fileURLWithPath: out + ".parts-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: parts) }
        let summary: EvidenceBundle.Summary
        do {
            try FileManager.default.createDirectory(at: parts, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            let bundle = EvidenceBundle(
                connection: try database.connect(applicationName: "governance-collector evidence"),
                selection: EvidenceReads.Selection(from: start.microseconds, to: end.microseconds, workflow: workflow),
                signer: checkpoints.signer, chainSecret: try options.chainSecret(), configSHA256: configSHA256)
            let files = parts.appendingPathComponent("files")
            try FileManager.default.createDirectory(at: files, withIntermediateDirectories: false)
            summary = try bundle.write(into: files)
            // Zipped inside the private folder, made 0600, then linked into place: no partial
            // or world-readable zip at --out, and an existing file is never replaced.
            let zip = parts.appendingPathComponent("bundle.zip")
            try FileManager.default.zipItem(at: files, to: zip, shouldKeepParent: false, compressionMethod: .deflate)
            guard chmod(zip.path, 0o600) == 0, link(zip.path, out) == 0 else {
                throw fail("cannot create \(out): \(String(cString: strerror(errno)))", status: 1)
            }
        } catch let error as PGError {
            throw fail("PostgreSQL: \(error)", status: 1)
        } catch let error as EvidenceBundle.Failure {
            throw fail(error.description, status: 1)
        } catch let error as CheckpointProver.Failure {
            throw fail(error.description, status: 1)
        }
        print(
            "evidence: \(summary.selected) events selected, \(summary.events) rows in full, leaves \(summary.firstLeaf)..<\(summary.checkpointSize) "
                + "(checkpoint \(summary.checkpointSize), newest \(summary.newestSize)) → \(out)")
    }
}
