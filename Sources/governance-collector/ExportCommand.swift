import ArgumentParser
import AuditStore
import Foundation
import Pipeline

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the events a filter selects as CSV or NDJSON, oldest first, to stdout or a file.",
        discussion: """
            The filters are the timeline's (the same names as its URL parameters), all combined with AND. \
            The export reads one consistent snapshot of the table, a page at a time, so memory stays \
            constant at any size. NDJSON lines are the platform wire format plus workflow: POST them \
            to another collector's /api/v1/ingest/events/batch unchanged.
            """)
    @OptionGroup var options: ConfigOption
    @Option(help: "A libpq connection string or URL; overrides the config's postgres exporter.")
    var dsn: String?
    @Option(help: "csv or ndjson.") var format: String = "ndjson"
    @Option(name: .shortAndLong, help: "Write here instead of stdout (created mode 0600; an existing file is refused).") var output: String?
    @Option(help: "Only this workflow.") var workflow: String?
    @Option(help: "Only this agent id.") var agent: String?
    @Option(help: "Only this kind; a trailing * matches a prefix, e.g. 'tool.*'.") var kind: String?
    @Option(help: "allow, deny, none, or error (a failed call).") var decision: String?
    @Option(help: "Only this model.") var model: String?
    @Option(help: "Only this session (UUID).") var session: String?
    @Option(help: "key=value or key (a dotted path for nested keys); repeatable, all must hold.") var meta: [String] = []
    @Option(name: .customLong("text"), help: "Words that must appear in metadata keys or values (\"a phrase\", or, -word).") var text: String?
    @Option(help: "Created at or after this time (RFC 3339, or 2026-11-25T09:30 as UTC).") var from: String?
    @Option(help: "Created before this time.") var to: String?

    func run() async throws {
        func usage(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("export: \(message)\n".utf8))
            return ExitCode(2)
        }
        guard let format = EventExport.Format(rawValue: format) else { throw usage("--format must be csv or ndjson") }
        var query: [String: String] = [:]
        for (name, value) in [
            ("workflow", workflow), ("agent", agent), ("kind", kind), ("decision", decision), ("model", model),
            ("session", session), ("q", text), ("from", from), ("to", to),
        ] {
            if let value { query[name] = value }
        }
        var (filter, problems) = EventFilter.parse(query)
        for condition in meta {
            if let parsed = EventFilter.MetadataCondition(condition) {
                filter.metadata.append(parsed)
            } else {
                problems.append("--meta \(condition): use key=value or key")
            }
        }
        if let problem = problems.first { throw usage(problem) }
        let out: FileHandle
        if let output {
            let fd = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw usage("cannot create \(output): \(String(cString: strerror(errno)))") }
            out = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        } else {
            out = FileHandle.standardOutput
        }
        let database = try options.database(overriddenBy: dsn)
        let export = EventExport(format: format, filter: filter)
        do {
            let worker = database.worker(applicationName: "governance-collector export")
            let total = try await export.write(via: worker) { text in out.write(Data(text.utf8)) }
            FileHandle.standardError.write(Data("export: \(total) events\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("export: PostgreSQL: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
