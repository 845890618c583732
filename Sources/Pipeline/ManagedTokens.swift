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
        return "wf_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func digest(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// The token from an `Authorization: Bearer <token>` header value, or nil.
    public static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// Workflow names: what YAML tokens and the UI accept.
    public static func isValidWorkflowName(_ name: String) -> Bool {
        name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"#, options: .regularExpression) != nil
    }
}
