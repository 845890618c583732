package import Config
import Crypto
import Foundation
package import Pipeline

/// Workflow-scoped bearer tokens. Only SHA-256 digests are held; a presented token is hashed
/// and compared with every digest in constant time, so neither timing nor the config file
/// reveals a token.
package struct WorkflowTokens: Sendable {
    struct Entry: Sendable {
        var workflow: String
        var digest: [UInt8]
    }
    let entries: [Entry]

    package init(_ pairs: [(workflow: String, sha256: [UInt8])]) {
        entries = pairs.map { Entry(workflow: $0.workflow, digest: $0.sha256) }
    }

    package var workflows: [String] { entries.map(\.workflow) }

    /// The workflow for an `Authorization: Bearer <token>` header value, or nil. Configured
    /// tokens are compared in constant time; `managed` ones (issued at run time) are looked up
    /// by digest, which reveals nothing about a token that its SHA-256 does not.
    package func workflow(forAuthorization header: String?, managed: (any ManagedTokens)? = nil) -> String? {
        IngestToken.bearer(header).flatMap { workflow(forToken: $0, managed: managed) }
    }

    /// The workflow of a presented token, or nil.
    package func workflow(forToken token: Substring, managed: (any ManagedTokens)? = nil) -> String? {
        let digest = IngestToken.digest(token)
        var match: String?
        for entry in entries where Self.constantTimeEqual(entry.digest, digest) && match == nil {
            match = entry.workflow
        }
        return match ?? managed?.workflow(forDigest: digest)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    package static func sha256Hex(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexString
    }

    /// Reads `tokens:` entries: `{workflow, token_sha256}` or `{workflow, token}` (the latter
    /// normally `${env:NAME}`, so the secret itself stays out of the file).
    package static func read(_ section: ConfigSection, key: String) throws(ConfigError) -> WorkflowTokens {
        var pairs: [(workflow: String, sha256: [UInt8])] = []
        let fix = "run `governance-collector token new --workflow NAME` and paste the line it prints"
        for entry in try section.sections(key) {
            let workflow = try entry.requiredString("workflow", fix: "name the workflow this token belongs to")
            guard SystemIdentity.isClientWorkflow(workflow) else {
                throw entry.error(
                    "workflow", "is `\(workflow)`",
                    fix: "use letters, digits, '.', '_' or '-' (at most 128); `\(SystemIdentity.workflow)` is the collector's own")
            }
            let hashed = try entry.string("token_sha256")
            let plain = try entry.string("token", secret: true)
            let digest: [UInt8]
            switch (hashed, plain) {
            case (let h?, nil):
                guard h.count == 64, let bytes = Hex.bytes(h) else {
                    throw entry.error("token_sha256", "is not 64 hexadecimal digits", fix: fix)
                }
                digest = bytes
            case (nil, let p?):
                guard p.hasPrefix("wf_"), p.count >= 20 else {
                    throw entry.error("token", "is not a wf_ token of at least 20 characters", fix: fix)
                }
                digest = Array(SHA256.hash(data: Data(p.utf8)))
            case (.some, .some):
                throw entry.error("token", "and token_sha256 are both set", fix: "keep one of them")
            case (nil, nil):
                throw entry.error("token_sha256", "is required (or token)", fix: fix)
            }
            try entry.finish()
            pairs.append((workflow, digest))
        }
        guard !pairs.isEmpty else {
            throw section.error(key, "has no workflow token, so no client could authenticate", fix: fix)
        }
        return WorkflowTokens(pairs)
    }
}
