import Config
import Foundation
import Pipeline
import Synchronization

/// Somewhere outside the database that keeps each checkpoint, so a later rewrite of the table
/// (and of the checkpoint table) is detectable against what was published.
protocol CheckpointWitness: Sendable {
    var name: String { get }
    func publish(_ note: String) async throws
}

/// Writes each checkpoint to `<directory>/<tree size>.checkpoint` and replaces
/// `latest.checkpoint`, each atomically (a temporary file renamed into place), so a reader never
/// sees half a note. Point it at storage the database's administrators cannot rewrite (another
/// host's mount, a WORM bucket's sync folder).
struct DirectoryWitness: CheckpointWitness {
    let directory: String
    var name: String { "directory \(directory)" }

    func publish(_ note: String) throws {
        let lines = note.split(separator: "\n", maxSplits: 2)
        guard lines.count >= 2, let size = Int(lines[1]) else { return }
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["\(size).checkpoint", "latest.checkpoint"] {
            try Data(note.utf8).write(to: folder.appendingPathComponent(file), options: .atomic)
        }
    }
}

/// Submits each checkpoint through the pipeline as an audit event (kind `audit.checkpoint`,
/// agent `governance.system`, one session per log origin), so every exporter of the pipeline,
/// the platform bridge among them, carries it off-site, and the tree itself later covers it.
/// The event id is a name-based UUID of the origin and size: a checkpoint published again (after
/// a restart) is a duplicate, not a second row. The signed note travels as hex (`note_hex`):
/// egress redaction replaces long base64 runs, such as a note's signature, and never pure hex.
final class PipelineWitness: CheckpointWitness {
    static let kind = "audit.checkpoint"
    let pipeline: Pipeline
    /// The size of the last checkpoint submitted: one that grew by nothing but that event is not
    /// submitted again, or each checkpoint's event would make the next one due, forever.
    let lastSubmitted = Mutex<Int?>(nil)
    var name: String { "pipeline \(pipeline.name)" }

    init(pipeline: Pipeline) {
        self.pipeline = pipeline
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    static func event(_ note: String) -> AuditEvent? {
        let lines = note.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        guard lines.count >= 3, let size = Int(lines[1]) else { return nil }
        let origin = String(lines[0])
        return AuditEvent(
            eventID: UUID.named(kind, "\(origin)\n\(size)"), sessionID: UUID.named(kind + ".session", origin), agentID: SystemIdentity.agent,
            kind: kind,
            metadata: .object([
                .init("origin", .string(origin)), .init("tree_size", .number(String(size))),
                .init("root_hash_hex", .string(Data(base64Encoded: String(lines[2])).map { Array($0).hexString } ?? "")),
                .init("note_hex", .string(Array(note.utf8).hexString)),
            ]),
            createdAt: .now(), workflow: SystemIdentity.workflow)
    }

    func publish(_ note: String) async throws {
        guard let event = Self.event(note), case .number(let text)? = event.metadata["tree_size"], let size = Int(text) else { return }
        if let last = lastSubmitted.withLock({ $0 }), size <= last + 1 { return }
        let outcome = try await pipeline.submit([event], from: .collector).first
        guard outcome?.isAccepted == true else {
            throw Refused(description: "the pipeline refused the checkpoint event: \(String(describing: outcome))")
        }
        lastSubmitted.withLock { $0 = size }
    }
}
