import ArgumentParser
import AuditStore
import Collector
import Config
import Foundation
import Pipeline
import Retention
import Transparency

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Sealed removal of old rows (the `retention:` section).",
        subcommands: [RunOnce.self])

    struct RunOnce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract:
                "Remove the rows received before the retention cutoff now, sealing what goes. Exit 0 done (or nothing due), 2 usage or configuration error.",
            discussion: """
                The rows go as a prefix of the table in commit order, in passes of max_rows, each in one \
                transaction with its seal (docs/components/retention.md). `verify` and `checkpoint verify` \
                then report them as removed by retention. The seal event is keyed with GOVERNANCE_AUDIT_SECRET \
                or the chain processor's secret.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
        var dsn: String?
        @Option(help: "Keep this long instead of retention.keep (e.g. 400d, 52w, 7y); never below retention.minimum.")
        var keep: String?
        @Flag(help: "Say what would be removed, remove nothing.")
        var dryRun = false

        func run() async throws {
            func usage(_ message: String) -> ExitCode {
                FileHandle.standardError.write(Data("retention run: \(message)\n".utf8))
                return ExitCode(2)
            }
            let plan = FileManager.default.fileExists(atPath: options.config) ? try options.plan() : nil
            let configured = plan?.settings(of: "retention", as: RetentionConfig.self)
            let minimum = configured?.minimum ?? RetentionConfig.defaultMinimum
            guard let period = keep.map(RetentionPeriod.init) ?? configured?.keep else {
                throw usage(
                    keep == nil
                        ? "no retention.keep in \(options.config): pass --keep (e.g. --keep 400d)"
                        : "--keep \(keep!) is not a period like 400d, 52w or 7y")
            }
            guard period.days >= minimum.days else { throw usage("--keep \(period.text) is shorter than retention.minimum (\(minimum.text))") }
            guard let secret = try options.chainSecret() else {
                throw usage("no HMAC secret for the seal event: set GOVERNANCE_AUDIT_SECRET or configure the chain processor")
            }
            let database = try options.database(overriddenBy: dsn)
            do {
                let connection = try database.connect(applicationName: "governance-collector retention")
                _ = try database.migrate(connection)
                let run = RetentionRun(connection: connection, tree: CompactMerkleTree.self)
                while true {
                    switch try run.run(
                        keep: period, secret: Array(secret.utf8), maxRows: configured?.maxRows ?? 1_000_000,
                        checkpointed: plan?.settings(of: "checkpoints", as: CheckpointsConfig.self) != nil, dryRun: dryRun)
                    {
                    case .busy:
                        print("another collector is running retention now; nothing done")
                        return
                    case .nothingDue(let cutoff, let reason):
                        print("nothing to remove before \(cutoff): \(reason)")
                        return
                    case .removed(let r):
                        let tree = r.treeSize.map { ", checkpoint tree cut at \($0) leaves" } ?? ""
                        if dryRun {
                            print(
                                "would remove \(r.rows) rows of \(r.sessions) sessions received before \(r.cutoff)\(r.more ? " (and more in later passes)" : "")"
                            )
                            return
                        }
                        print(
                            "removed \(r.rows) rows of \(r.sessions) sessions received before \(r.cutoff); seal \(r.sealID?.lowercasedString ?? "")\(tree)"
                        )
                        if !r.more { return }
                    }
                }
            } catch let error as PGError {
                throw usage("PostgreSQL: \(error)")
            } catch let error as RetentionRun.Failure {
                throw usage("\(error)")
            }
        }
    }
}
