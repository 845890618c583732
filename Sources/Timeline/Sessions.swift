import Crypto
import Foundation

/// A browser session, carried entirely in a signed cookie (no server-side store, so several
/// collectors sharing `session_secret` serve one UI). Every visitor gets one, signed in or not,
/// because the login form's CSRF token is bound to it too.
struct UISession: Sendable, Equatable {
    var id: String
    var authenticated: Bool
    /// Unix seconds.
    var expires: Int64

    static func fresh(authenticated: Bool, ttl: Double, now: Int64) -> UISession {
        UISession(id: Base64URL.encode(TimelineConfig.randomSecret().prefix(18)), authenticated: authenticated, expires: now + Int64(ttl))
    }
}

/// Signs and checks session cookies and CSRF tokens with HMAC-SHA256 keys derived from the
/// session secret (one key per purpose).
struct SessionSigner: Sendable {
    static let cookieName = "gc_session"
    private let cookieKey: SymmetricKey
    private let csrfKey: SymmetricKey

    init(secret: [UInt8]) {
        let root = SymmetricKey(data: secret)
        cookieKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("governance-ui/cookie".utf8), using: root))
        csrfKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("governance-ui/csrf".utf8), using: root))
    }

    /// `<payload>.<signature>`, both base64url; the payload is `v1|id|auth|expires`.
    func cookieValue(_ session: UISession) -> String {
        let payload = Base64URL.encode(Array("v1|\(session.id)|\(session.authenticated ? 1 : 0)|\(session.expires)".utf8))
        return payload + "." + Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: cookieKey)))
    }

    /// The session in a cookie value, if its signature holds and it has not expired.
    func session(fromCookie value: String?, now: Int64) -> UISession? {
        guard let value, let dot = value.firstIndex(of: ".") else { return nil }
        let payload = String(value[..<dot])
        guard let signature = Base64URL.decode(String(value[value.index(after: dot)...])),
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data(payload.utf8), using: cookieKey),
            let bytes = Base64URL.decode(payload)
        else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let expires = Int64(parts[3]), expires > now else { return nil }
        return UISession(id: String(parts[1]), authenticated: parts[2] == "1", expires: expires)
    }

    /// The CSRF token every state-changing form carries: bound to the session, so a page on
    /// another site can neither read nor forge it.
    func csrfToken(for session: UISession) -> String {
        Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Data("csrf|\(session.id)".utf8), using: csrfKey)))
    }

    func isValidCSRF(_ token: String?, for session: UISession) -> Bool {
        guard let token, let code = Base64URL.decode(token) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Data("csrf|\(session.id)".utf8), using: csrfKey)
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
