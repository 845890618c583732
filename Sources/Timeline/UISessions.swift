import AuditStore
import Foundation

/// Sessions kept in PostgreSQL: started at sign-in, looked up on every request (so a role change
/// applies at the next one), ended by sign-out or by an admin on any collector of the database.
/// A session ends after `session_idle` seconds unused or `session_ttl` seconds after sign-in.
struct UISessions: Sendable {
    let people: PostgresPeople
    let config: TimelineConfig

    /// The cookie of a visitor not signed in: ends with the browser.
    func anonymousCookie(_ id: String) -> String {
        "\(SessionID.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict"
    }

    /// The cookie of a signed-in session: the browser drops it when the session's absolute lifetime ends.
    func signedInCookie(_ id: String) -> String {
        anonymousCookie(id) + "; Max-Age=\(Int(config.sessionTTL))"
    }

    /// The person signed in with this session id, as the users table says now; nil when the
    /// session is not live, or its person was removed.
    func person(sessionID: String) async throws -> Person? {
        guard let row = try await people.session(idSHA256: SessionID.sha256(sessionID)) else { return nil }
        if let user = row.user { return Person(user, method: row.method) }
        // The bootstrap admin has no row; their sessions hold only while the admin password is configured.
        guard row.method == "bootstrap", row.person == TimelineConfig.bootstrapAdmin, config.adminPassword != nil else { return nil }
        return Person(name: row.person, role: .admin, method: row.method)
    }

    /// The person and scopes of a live API key, as the users table says now; nil when the key is
    /// not live or its person was removed.
    func person(apiKey: String) async throws -> (Person, UsedAPIKey)? {
        guard let row = try await people.key(keySHA256: APIKey.sha256(apiKey)) else { return nil }
        let person: Person
        if let user = row.user, let stored = Person(user, method: "api_key") {
            person = stored
        } else if row.method == "bootstrap", row.person == TimelineConfig.bootstrapAdmin, config.adminPassword != nil {
            person = Person(name: row.person, role: .admin, method: "api_key")
        } else {
            return nil
        }
        return (person, UsedAPIKey(fingerprint: row.fingerprint, scopes: Set(row.scopes.compactMap(APIKeyScope.init(rawValue:)))))
    }

    /// A new session for `person`; returns its id (the cookie's value).
    func start(_ person: Person, clientAddress: String?) async throws -> String {
        let id = SessionID.random()
        try await people.startSession(
            idSHA256: SessionID.sha256(id), person: person.name, method: person.method, clientAddress: clientAddress,
            absoluteSeconds: Int(config.sessionTTL), idleSeconds: Int(config.sessionIdle))
        return id
    }

    /// Ends the session with this id everywhere; false when it was not live.
    func end(_ id: String, by person: String) async throws -> Bool {
        try await people.endSession(idSHA256: SessionID.sha256(id), by: person) != nil
    }
}
