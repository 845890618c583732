import Config
public import Crypto
import Foundation

/// An agent's Ed25519 public key as the reference SDK handles it (reference-sdk.md §9): an SPKI
/// PEM, named by the first 32 hex digits of SHA-256 of that PEM's text. The SDK hashes the exact
/// text `cryptography` prints (64-column base64, a trailing LF), so the fingerprint here is
/// computed from that form, rebuilt from the key, whatever whitespace the PEM was pasted with.
public struct AgentPublicKey: Sendable {
    public let key: Curve25519.Signing.PublicKey
    /// The PEM as `cryptography` prints it (what the SDK hashes and registers).
    public let pem: String
    public let fingerprint: String

    /// DER of an Ed25519 SubjectPublicKeyInfo up to the key: SEQUENCE (42) { SEQUENCE (5) { OID
    /// 1.3.101.112 }, BIT STRING (33, no unused bits) }; the 32 key bytes follow.
    static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM holding an Ed25519 key.
    public init(pem text: String) throws(AgentKeyError) {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard lines.first == "-----BEGIN PUBLIC KEY-----", lines.last == "-----END PUBLIC KEY-----", lines.count >= 3 else {
            throw AgentKeyError("is not a PEM public key (expected -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)")
        }
        guard let der = Data(base64Encoded: lines.dropFirst().dropLast().joined()).map(Array.init) else {
            throw AgentKeyError("has a body that is not base64")
        }
        guard der.count == Self.spkiPrefix.count + 32, der.starts(with: Self.spkiPrefix) else {
            throw AgentKeyError("is not an Ed25519 key (its SubjectPublicKeyInfo is not the 44-byte Ed25519 form)")
        }
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
        } catch {
            throw AgentKeyError("holds no valid Ed25519 public key")
        }
        pem = Self.canonicalPEM(der: der)
        fingerprint = Self.fingerprint(ofPEMText: pem)
    }

    /// The SDK's `compute_fingerprint`: SHA-256 of exactly this text, first 32 hex digits.
    public static func fingerprint(ofPEMText text: String) -> String {
        String(SHA256.hash(data: Data(text.utf8)).hexString.prefix(32))
    }

    /// Whether `text` has a fingerprint's form (32 hex digits, either case).
    public static func isFingerprint(_ text: String) -> Bool { text.count == 32 && Hex.isHex(text) }

    /// True when `signature` (64 bytes) is this key's signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.count == 64 && key.isValidSignature(signature, for: message)
    }

    static func canonicalPEM(der: [UInt8]) -> String {
        let body = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN PUBLIC KEY-----\n\(body)\n-----END PUBLIC KEY-----\n"
    }
}

/// Why a PEM is not an agent key; `problem` completes a sentence about the key ("… is …").
public struct AgentKeyError: Error, Sendable, CustomStringConvertible {
    public var problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
}
