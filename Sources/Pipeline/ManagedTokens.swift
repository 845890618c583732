import Crypto
import Foundation

/// Workflow tokens managed at run time rather than in the YAML file (the timeline UI issues and
/// revokes them; they are kept as SHA-256 digests in PostgreSQL). Ingest receivers consult it
/// after their configured tokens. It lives here so receivers need not know where it is stored.
public protocol ManagedTokens: Sendable {
    /// The workflow of an active token with this SHA-256 digest, or nil (unknown or revoked).
    func workflow(forDigest digest: [UInt8]) -> String?
}

/// The `wf_` bearer tokens clients present.
public enum IngestToken {
    /// A fresh token: `wf_` and 32 random bytes, base64url without padding (43 characters).
    public static func generate() -> String {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        return "wf_"
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func digest(_ token: Substring) -> [UInt8] {
        var token = token
        return token.withUTF8 { Array(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }

    public static func digest(_ token: String) -> [UInt8] { digest(token[...]) }

    /// The token from an `Authorization: Bearer <token>` header value, or nil. Read on every
    /// request, so it works on the header's bytes (the scheme in any case, spaces or tabs around
    /// the token) without Foundation.
    public static func bearer(_ header: String?) -> Substring? {
        guard let header else { return nil }
        let scheme = "bearer ".utf8
        var rest = header.utf8[...]
        for expected in scheme {
            guard let byte = rest.popFirst(), byte | (expected == 0x20 ? 0 : 0x20) == expected else { return nil }
        }
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        while let first = rest.first, isBlank(first) { rest.removeFirst() }
        while let last = rest.last, isBlank(last) { rest.removeLast() }
        return rest.isEmpty ? nil : Substring(rest)
    }

    /// The password of an `Authorization: Basic <base64(user:password)>` header value, or nil.
    /// Langfuse's exporter authenticates so (public key : secret key): with the workflow token
    /// as its secret key, it reaches the OTLP/HTTP receiver unchanged.
    public static func basicPassword(_ header: String?) -> Substring? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic " else { return nil }
        guard let decoded = Data(base64Encoded: header.dropFirst(6).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        let password = text[text.index(after: colon)...]
        return password.isEmpty ? nil : Substring(password)
    }

    /// Workflow names: what YAML tokens and the UI accept.
    public static func isValidWorkflowName(_ name: String) -> Bool {
        name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"#, options: .regularExpression) != nil
    }
}
