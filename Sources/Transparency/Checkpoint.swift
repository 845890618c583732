import Foundation

/// A C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text
/// `origin\ntree size\nbase64 root hash\n`, which the log's key signs.
package struct Checkpoint: Sendable, Equatable {
    package var origin: String
    package var size: Int
    package var rootHash: [UInt8]

    package init(origin: String, size: Int, rootHash: [UInt8]) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
    }

    package var text: String { "\(origin)\n\(size)\n\(Data(rootHash).base64EncodedString())\n" }

    /// Parses a note's verified text (extension lines after the root are allowed and ignored).
    package init(text: String) throws(SignedNote.OpenError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, !lines[0].isEmpty, let size = Int(lines[1]), size >= 0, String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else {
            throw .malformed("the text is not `origin`, `tree size`, `base64 root hash`, one per line")
        }
        self.init(origin: String(lines[0]), size: size, rootHash: Array(root))
    }

    /// Opens and parses a signed checkpoint.
    package static func open(_ note: String, verifiers: [NoteVerifier]) throws(SignedNote.OpenError) -> (checkpoint: Checkpoint, signer: NoteVerifier)
    {
        let (text, signer) = try SignedNote.open(note, verifiers: verifiers)
        return (try Checkpoint(text: text), signer)
    }
}
