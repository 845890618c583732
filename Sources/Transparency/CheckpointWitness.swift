import Foundation

/// Somewhere outside the database that keeps each checkpoint, so a later rewrite of the table
/// (and of the checkpoint table) is detectable against what was published.
protocol CheckpointWitness: Sendable {
    var name: String { get }
    func publish(_ note: String) throws
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
