import Config
public import Crypto
import Foundation

/// The HMAC chain's keys across rotations, as the reference SDK records them
/// (reference-sdk.md §11): `governance_audit_chain_keys` lists key versions by salted
/// fingerprint with the global `chain_seq` range each covers (`activated ≤ seq < retired`),
/// and the secrets themselves come from outside the database.
public struct ChainKeyring: Sendable {
    public struct Version: Sendable, Equatable {
        public var number: Int
        public var fingerprint: String
        public var activated: Int64
        public var retired: Int64?
    }

    /// The SDK's `fingerprint_key`: HMAC-SHA256(secret, "codeatelier.fingerprint.v1") as hex,
    /// so a registry names a key without holding it.
    public static func fingerprint(_ secret: [UInt8]) -> String {
        HMAC<SHA256>.authenticationCode(for: Array("codeatelier.fingerprint.v1".utf8), using: SymmetricKey(data: secret)).hexString
    }

    /// Secrets by fingerprint; the first is used alone when the table has no key versions.
    public let secrets: [(fingerprint: String, key: SymmetricKey)]
    public var versions: [Version] = []

    public init(secrets: [[UInt8]]) {
        self.secrets = secrets.map { (Self.fingerprint($0), SymmetricKey(data: $0)) }
    }

    /// The version covering `chainSeq` (the latest activation wins), if the table has versions.
    public func version(at chainSeq: Int64) -> Version? {
        versions.filter { $0.activated <= chainSeq && ($0.retired.map { $0 > chainSeq } ?? true) }.max { $0.activated < $1.activated }
    }

    public func key(for fingerprint: String) -> SymmetricKey? {
        secrets.first { $0.fingerprint == fingerprint }?.key
    }

    /// What verifies the row at `chainSeq`: a key, or why there is none.
    public func key(at chainSeq: Int64) -> Result<SymmetricKey, KeyProblem> {
        guard !versions.isEmpty else {
            return secrets.first.map { .success($0.key) } ?? .failure(.init(description: "no secret given"))
        }
        guard let version = version(at: chainSeq) else {
            return .failure(.init(description: "no key version in governance_audit_chain_keys covers chain_seq \(chainSeq)"))
        }
        guard let key = key(for: version.fingerprint) else {
            return .failure(
                .init(
                    description:
                        "no secret given for key version \(version.number) (fingerprint \(version.fingerprint.prefix(16))…): pass it with --key"))
        }
        return .success(key)
    }

    public struct KeyProblem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Key bytes from the SDK's key URIs: `env://NAME` (base64, or the raw text when it is not
    /// base64, as the SDK reads it) or `file:///path` (the file's exact bytes).
    public static func resolve(uri: String, environment: [String: String]) -> [UInt8]? {
        if uri.hasPrefix("env://") {
            guard let value = environment[String(uri.dropFirst(6))], !value.isEmpty else { return nil }
            return Data(base64Encoded: value).map(Array.init) ?? Array(value.utf8)
        }
        if uri.hasPrefix("file://") {
            return FileManager.default.contents(atPath: String(uri.dropFirst(7))).map(Array.init)
        }
        return nil
    }
}

extension ChainKeyring {
    /// Reads the key versions, if the table has a registry.
    public mutating func load(from connection: PGConnection) throws(PGError) {
        guard try connection.exec("SELECT to_regclass('governance_audit_chain_keys') IS NOT NULL").rows.first?.first == "t" else { return }
        versions = try connection.exec(
            """
            SELECT key_version, fingerprint, activated_at_chain_seq, retired_at_chain_seq FROM governance_audit_chain_keys ORDER BY activated_at_chain_seq
            """
        ).rows.compactMap { row in
            guard let number = row[0].flatMap({ Int($0) }), let fingerprint = row[1], let activated = row[2].flatMap({ Int64($0) }) else {
                return nil
            }
            return Version(number: number, fingerprint: fingerprint, activated: activated, retired: row[3].flatMap { Int64($0) })
        }
    }
}
