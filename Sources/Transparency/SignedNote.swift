import Config
import Crypto
import Foundation

/// A C2SP signed-note Ed25519 key (https://c2sp.org/signed-note), named by the log's origin.
/// Its key ID is SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. Keys are written in the
/// encodings of Go's `golang.org/x/mod/sumdb/note`, so Go's and others' tools read them:
/// verifier `name+hash+base64(0x01 ‖ key)`, signer `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`.
package struct NoteVerifier: Sendable, Equatable {
    package let name: String
    package let keyID: [UInt8]
    package let publicKey: [UInt8]

    package init(name: String, publicKey: [UInt8]) throws(NoteKeyError) {
        guard Self.isValidName(name) else { throw NoteKeyError("key name `\(name)` is empty or has a space or `+`") }
        guard publicKey.count == 32 else { throw NoteKeyError("an Ed25519 public key is 32 bytes, not \(publicKey.count)") }
        self.name = name
        self.publicKey = publicKey
        keyID = Array(SHA256.hash(data: Array(name.utf8) + [0x0A, 0x01] + publicKey).prefix(4))
    }

    /// Parses `name+hash+base64`; the hash must match the key.
    package init(encoded: String) throws(NoteKeyError) {
        // Names have no `+`; the base64 may.
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01 else {
            throw NoteKeyError("is not a verifier key `name+keyhash+base64` for Ed25519")
        }
        try self.init(name: String(parts[0]), publicKey: Array(raw.dropFirst()))
        guard parts[1] == keyHash else { throw NoteKeyError("its key hash \(parts[1]) does not match its key (\(keyHash))") }
    }

    /// The key ID as 8 hex digits, as in the encoded key.
    package var keyHash: String { keyID.hexString }
    package var encoded: String { "\(name)+\(keyHash)+\(Data([0x01] + publicKey).base64EncodedString())" }

    package func isValidSignature(_ signature: [UInt8], for text: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: text)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("+") && !name.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 }
    }
}

package struct NoteSigner: Sendable {
    package let verifier: NoteVerifier
    private let key: Curve25519.Signing.PrivateKey

    package static func generate(name: String) throws(NoteKeyError) -> NoteSigner {
        try NoteSigner(name: name, key: Curve25519.Signing.PrivateKey())
    }

    init(name: String, key: Curve25519.Signing.PrivateKey) throws(NoteKeyError) {
        self.key = key
        verifier = try NoteVerifier(name: name, publicKey: Array(key.publicKey.rawRepresentation))
    }

    /// Parses `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`.
    package init(encoded: String) throws(NoteKeyError) {
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", let raw = Data(base64Encoded: String(parts[4])),
            raw.count == 33, raw.first == 0x01, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else {
            throw NoteKeyError(
                "is not a signer key `PRIVATE+KEY+name+keyhash+base64` for Ed25519 (make one with `governance-collector checkpoint keygen`)")
        }
        try self.init(name: String(parts[2]), key: key)
        guard parts[3] == verifier.keyHash else { throw NoteKeyError("its key hash \(parts[3]) does not match its key") }
    }

    package var encoded: String {
        "PRIVATE+KEY+\(verifier.name)+\(verifier.keyHash)+\(Data([0x01] + Array(key.rawRepresentation)).base64EncodedString())"
    }

    /// The note: `text` (ending in a newline), a blank line, and one signature line.
    package func sign(_ text: String) throws -> String {
        precondition(text.hasSuffix("\n"))
        let signature = try key.signature(for: Array(text.utf8))
        return text + "\n— \(verifier.name) \(Data(verifier.keyID + Array(signature)).base64EncodedString())\n"
    }
}

package struct NoteKeyError: Error, CustomStringConvertible, Sendable {
    package var description: String
    init(_ description: String) { self.description = description }
}

/// Opening a signed note: its text is trusted only when a signature by a known key verifies.
package enum SignedNote {
    package enum OpenError: Error, CustomStringConvertible, Sendable, Equatable {
        case malformed(String)
        case noKnownSignature(names: [String])
        case badSignature(key: String)

        package var description: String {
            switch self {
            case .malformed(let why): "not a signed note: \(why)"
            case .noKnownSignature(let names): "signed by no trusted key (signatures from: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
            case .badSignature(let key): "the signature by \(key) does not verify: the note was changed or signed by another key"
            }
        }
    }

    /// The text of a note whose signature is checked elsewhere (e.g. by whoever gets the proof).
    package static func unverifiedText(_ note: String) throws(OpenError) -> String {
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw .malformed("no blank line before the signatures") }
        return String(note[..<split.lowerBound]) + "\n"
    }

    /// The note's text and the trusted key that signed it.
    package static func open(_ note: String, verifiers: [NoteVerifier]) throws(OpenError) -> (text: String, signer: NoteVerifier) {
        let text = try unverifiedText(note)
        let split = note.range(of: "\n\n", options: .backwards)!
        let lines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "", lines.count >= 2 else { throw .malformed("the signature lines do not end in a newline") }
        var names: [String] = []
        var verified: NoteVerifier?
        for line in lines.dropLast() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == "—", let raw = Data(base64Encoded: String(fields[2])), raw.count > 4 else {
                throw .malformed("`\(line.prefix(80))` is not a signature line `— name base64`")
            }
            names.append(String(fields[1]))
            let id = Array(raw.prefix(4))
            guard let key = verifiers.first(where: { $0.name == fields[1] && $0.keyID == id }) else { continue }
            guard key.isValidSignature(Array(raw.dropFirst(4)), for: Array(text.utf8)) else { throw .badSignature(key: key.encoded) }
            verified = key
        }
        guard let verified else { throw .noKnownSignature(names: names) }
        return (text, verified)
    }
}
