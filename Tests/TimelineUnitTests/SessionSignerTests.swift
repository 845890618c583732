import Testing
@testable import Timeline

/// The UI's signed session cookie and CSRF tokens on their own (TimelineTests sign in through a
/// real browser and replay forged cookies against a running collector).
@Suite("session cookies and CSRF tokens")
struct SessionSignerTests {
    let signer = SessionSigner(secret: Array("a-session-secret-of-32-bytes-long!".utf8))
    let session = UISession(id: "abc", authenticated: true, expires: 2_000)

    @Test("a cookie reads back as its session until it expires")
    func roundTrip() {
        let cookie = signer.cookieValue(session)
        #expect(signer.session(fromCookie: cookie, now: 1_999) == session)
        #expect(signer.session(fromCookie: cookie, now: 2_000) == nil)
    }

    @Test("a cookie with an edited payload, a foreign signature or no signature is refused")
    func forgeries() {
        let cookie = signer.cookieValue(session)
        let signature = cookie.split(separator: ".")[1]
        let forgedPayload = Base64URL.encode(Array("v1|abc|1|9999999999".utf8))
        #expect(signer.session(fromCookie: forgedPayload + "." + signature, now: 0) == nil)
        let other = SessionSigner(secret: Array("another-secret-of-32-bytes-long!!!".utf8))
        #expect(signer.session(fromCookie: other.cookieValue(session), now: 0) == nil)
        #expect(signer.session(fromCookie: String(cookie.split(separator: ".")[0]), now: 0) == nil)
        #expect(signer.session(fromCookie: nil, now: 0) == nil)
    }

    @Test("a CSRF token holds only for its own session and key")
    func csrf() {
        let token = signer.csrfToken(for: session)
        #expect(signer.isValidCSRF(token, for: session))
        #expect(!signer.isValidCSRF(token, for: UISession(id: "xyz", authenticated: true, expires: 2_000)))
        #expect(!signer.isValidCSRF(SessionSigner(secret: Array("another-secret-of-32-bytes-long!!!".utf8)).csrfToken(for: session), for: session))
        #expect(!signer.isValidCSRF(nil, for: session))
    }

    @Test("secrets are compared whole")
    func secrets() {
        #expect(secretsMatch("correct horse", "correct horse"))
        #expect(!secretsMatch("correct horse", "correct hors"))
        #expect(!secretsMatch("", "x"))
    }
}
