import Testing
@testable import Timeline

/// The UI's session ids and the CSRF tokens bound to them, on their own (TimelineTests and
/// PeopleTests sign in against a running collector and its PostgreSQL).
@Suite("session ids and CSRF tokens")
struct SessionIDTests {
    @Test("a CSRF token holds only for the session it was made for")
    func csrf() {
        let session = SessionID.random(), other = SessionID.random()
        let token = SessionID.csrfToken(for: session)
        #expect(SessionID.isValidCSRF(token, for: session))
        #expect(!SessionID.isValidCSRF(token, for: other))
        #expect(!SessionID.isValidCSRF(nil, for: session))
        #expect(!SessionID.isValidCSRF(token, for: ""))
        #expect(!SessionID.isValidCSRF(String(token.dropLast()), for: session))
    }

    @Test("ids are 32 random bytes; only such cookie values are looked up")
    func ids() {
        let a = SessionID.random(), b = SessionID.random()
        #expect(a != b && SessionID.isWellFormed(a) && SessionID.isWellFormed(b))
        #expect(!SessionID.isWellFormed("abc") && !SessionID.isWellFormed(a + "x") && !SessionID.isWellFormed(String(repeating: "!", count: 43)))
        #expect(SessionID.sha256(a).count == 32 && SessionID.fingerprint(a).count == 16 && SessionID.fingerprint(a) != SessionID.fingerprint(b))
    }

    @Test("secrets are compared whole")
    func secrets() {
        #expect(secretsMatch("correct horse", "correct horse"))
        #expect(!secretsMatch("correct horse", "correct hors"))
        #expect(!secretsMatch("", "x"))
    }
}
