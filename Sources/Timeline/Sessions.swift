import Config
import Crypto
import Foundation

/// A browser's session id: 32 random bytes in an `HttpOnly` cookie. The database keeps only its
/// SHA-256 (`governance_ui_sessions`), so a session is one row every collector on the database
/// sees, and ending it ends it everywhere. A visitor who has not signed in has an id too, never
/// stored, because the sign-in form's CSRF token is bound to it.
enum SessionID {
    static let cookieName = "gc_session"

    static func random() -> String { Base64URL.encode(TimelineConfig.randomSecret()) }

    /// What the database stores and looks up.
    static func sha256(_ id: String) -> [UInt8] { Array(SHA256.hash(data: Data(id.utf8))) }

    /// The short name logs, access events and the people page use for a session (the first 16
    /// hex digits of its SHA-256): enough to tell sessions apart, useless to sign in with.
    static func fingerprint(_ id: String) -> String { String(sha256(id).hexString.prefix(16)) }

    /// The CSRF token every state-changing form carries: an HMAC keyed by the session id, so a
    /// page on another site, which can read neither, can forge neither.
    static func csrfToken(for id: String) -> String {
        Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Data("governance-ui/csrf".utf8), using: SymmetricKey(data: Data(id.utf8)))))
    }

    static func isValidCSRF(_ token: String?, for id: String) -> Bool {
        guard let token, let code = Base64URL.decode(token), !id.isEmpty else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Data("governance-ui/csrf".utf8), using: SymmetricKey(data: Data(id.utf8)))
    }

    /// A cookie value this UI could have issued: base64url of 32 bytes.
    static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == 43 && Base64URL.decode(value)?.count == 32
    }
}

/// Compares secrets (the admin password or token) without a timing side channel.
func secretsMatch(_ presented: String, _ expected: String) -> Bool {
    let a = Array(SHA256.hash(data: Data(presented.utf8))), b = Array(SHA256.hash(data: Data(expected.utf8)))
    var difference: UInt8 = 0
    for i in a.indices { difference |= a[i] ^ b[i] }
    return difference == 0
}

enum Base64URL {
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}
