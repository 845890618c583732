import Config
import Foundation
package import Pipeline

/// The people who may use the UI (`governance_users`), their signed-in sessions
/// (`governance_ui_sessions`), their API keys, the sign-ins under way (e-mail links, OpenID
/// Connect logins) and the failed sign-ins that slow and then refuse guessing
/// (`governance_signin_failures`). All live in the pipeline's database, so every collector
/// on it sees one set of people, one session ended everywhere, one count of failures; every time
/// is the database's clock.
package enum PeopleTables {
    package static let schema = SchemaSteps(
        owner: "people",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_users (
                name          TEXT        PRIMARY KEY,
                role          TEXT        NOT NULL CHECK (role IN ('admin', 'auditor', 'viewer', 'owner')),
                workflows     TEXT[]      NOT NULL DEFAULT '{}',
                password_hash TEXT        NULL,
                created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
                changed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            // The cookie's value is never stored: a copy of this table signs nobody in.
            """
            CREATE TABLE IF NOT EXISTS governance_ui_sessions (
                id_sha256      BYTEA       PRIMARY KEY,
                person         TEXT        NOT NULL,
                method         TEXT        NOT NULL,
                client_address TEXT        NULL,
                created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
                last_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
                expires_at     TIMESTAMPTZ NOT NULL,
                idle_seconds   INTEGER     NOT NULL,
                ended_at       TIMESTAMPTZ NULL,
                ended_by       TEXT        NULL
            )
            """,
            // Who vouches for the person: `password` (this collector's own users, with or without
            // a password yet) or `oidc` (the identity provider, whose groups set the role at each sign-in).
            "ALTER TABLE governance_users ADD COLUMN IF NOT EXISTS signs_in_with TEXT NOT NULL DEFAULT 'password' CHECK (signs_in_with IN ('password', 'oidc'))",
            // The provider's account (`<iss> <sub>`) a person of the provider was first seen as:
            // a later sign-in naming them is theirs only if it is that account.
            "ALTER TABLE governance_users ADD COLUMN IF NOT EXISTS oidc_subject TEXT NULL",
            "CREATE INDEX IF NOT EXISTS idx_ui_sessions_person ON governance_ui_sessions (person) WHERE ended_at IS NULL",
            // A key's secret is never stored, as a session's.
            """
            CREATE TABLE IF NOT EXISTS governance_api_keys (
                fingerprint  TEXT        PRIMARY KEY,
                key_sha256   BYTEA       NOT NULL UNIQUE,
                person       TEXT        NOT NULL,
                method       TEXT        NOT NULL,
                name         TEXT        NOT NULL,
                scopes       TEXT[]      NOT NULL,
                created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
                expires_at   TIMESTAMPTZ NOT NULL,
                revoked_at   TIMESTAMPTZ NULL,
                last_used_at TIMESTAMPTZ NULL
            )
            """,
            // Sign-in links: only the link's SHA-256, and the SHA-256 of the session id of the
            // browser that asked, which alone may use it.
            """
            CREATE TABLE IF NOT EXISTS governance_signin_links (
                link_sha256    BYTEA       PRIMARY KEY,
                person         TEXT        NOT NULL,
                browser_sha256 BYTEA       NOT NULL,
                created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
                expires_at     TIMESTAMPTZ NOT NULL,
                used_at        TIMESTAMPTZ NULL
            )
            """,
            // OpenID Connect logins under way: the SHA-256 of their `state` and of the binding
            // cookie of the browser that began them, with the nonce and PKCE verifier the
            // callback needs, so the callback may reach any collector on the database.
            """
            CREATE TABLE IF NOT EXISTS governance_oidc_logins (
                state_sha256   BYTEA       PRIMARY KEY,
                browser_sha256 BYTEA       NOT NULL,
                nonce          TEXT        NOT NULL,
                code_verifier  TEXT        NOT NULL,
                expires_at     TIMESTAMPTZ NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_signin_failures (
                key          TEXT        PRIMARY KEY,
                failures     INTEGER     NOT NULL,
                window_start TIMESTAMPTZ NOT NULL
            )
            """,
        ])

    /// A stored person.
    package struct User: Sendable, Equatable {
        package var name: String
        package var role: String
        package var workflows: [String]
        package var passwordHash: String?
        /// The identity provider's account (`<iss> <sub>`) that vouches for them; nil for the
        /// collector's own people.
        package var subject: String?

        package var fromIdentityProvider: Bool { subject != nil }

        package init(name: String, role: String, workflows: [String], passwordHash: String?, subject: String? = nil) {
            (self.name, self.role, self.workflows, self.passwordHash, self.subject) = (name, role, workflows, passwordHash, subject)
        }
    }

    /// A live session's person, as the users table says now (so a role change applies at the next request).
    package struct SessionRow: Sendable {
        package var person: String
        package var method: String
        /// nil when the person has no row (the bootstrap admin, or a person since removed).
        package var user: User?
    }

    /// A live API key's person (as the users table says now) and what the key may do.
    package struct KeyRow: Sendable {
        package var fingerprint: String
        package var person: String
        package var method: String
        package var scopes: [String]
        package var user: User?
    }

    /// An API key as the keys page lists it.
    package struct KeyListing: Sendable {
        package var fingerprint: String
        package var person: String
        package var name: String
        package var scopes: [String]
        package var createdAt: String
        package var expiresAt: String
        package var lastUsedAt: String?
        /// `active`, `expired` or `revoked`.
        package var state: String
    }

    /// Failed sign-ins counted against a key within its window.
    package struct Failures: Sendable {
        package var count: Int
        /// Seconds until the window ends.
        package var retryAfter: Int

        package static let none = Failures(count: 0, retryAfter: 0)
    }

    /// A session as the people page lists it.
    package struct SessionListing: Sendable {
        package var fingerprint: String
        package var person: String
        package var method: String
        package var clientAddress: String?
        package var createdAt: String
        package var lastSeen: String
    }

    static func user(_ name: String, on connection: PGConnection) throws(PGError) -> User? {
        try connection.exec(
            "SELECT name, role, array_to_string(workflows, ','), password_hash, oidc_subject FROM governance_users WHERE name = $1", [name]
        ).rows
            .first.map(user)
    }

    static func users(on connection: PGConnection) throws(PGError) -> [User] {
        try connection.exec("SELECT name, role, array_to_string(workflows, ','), password_hash, oidc_subject FROM governance_users ORDER BY name")
            .rows.map(user)
    }

    /// Adds the person, or changes their role, grants and (when given) password hash; false when
    /// the name belongs to someone else (a person of the provider, when saving one of the
    /// collector's own, one of the collector's own or another provider account, when saving a
    /// person of the provider), who is left as they are.
    static func save(_ user: User, on connection: PGConnection) throws(PGError) -> Bool {
        try !connection.exec(
            """
            INSERT INTO governance_users (name, role, workflows, password_hash, signs_in_with, oidc_subject)
            VALUES ($1, $2, $3::text[], $4, $5, $6)
            ON CONFLICT (name) DO UPDATE SET role = $2, workflows = $3::text[],
                password_hash = coalesce($4, governance_users.password_hash), changed_at = now()
            WHERE governance_users.signs_in_with = $5 AND governance_users.oidc_subject IS NOT DISTINCT FROM $6
            RETURNING 1
            """,
            [user.name, user.role, PGArray.text(user.workflows), user.passwordHash, user.fromIdentityProvider ? "oidc" : "password", user.subject]
        ).rows.isEmpty
    }

    /// Removes the person (only when it is that provider account, given `subject`) and ends
    /// their sessions; false when there was no such person.
    static func remove(_ name: String, subject: String? = nil, by: String, on connection: PGConnection) throws(PGError) -> Bool {
        let removed = try !connection.exec(
            "DELETE FROM governance_users WHERE name = $1 AND ($2::text IS NULL OR oidc_subject = $2) RETURNING 1", [name, subject]
        ).rows.isEmpty
        if removed {
            try connection.exec(
                "UPDATE governance_ui_sessions SET ended_at = now(), ended_by = $2 WHERE person = $1 AND ended_at IS NULL", [name, by])
        }
        return removed
    }

    static func startSession(
        idSHA256: [UInt8], person: String, method: String, clientAddress: String?, absoluteSeconds: Int, idleSeconds: Int,
        on connection: PGConnection
    ) throws(PGError) {
        try connection.exec(
            """
            INSERT INTO governance_ui_sessions (id_sha256, person, method, client_address, expires_at, idle_seconds)
            VALUES (decode($1, 'hex'), $2, $3, $4, now() + make_interval(secs => $5::int), $6::int)
            """, [idSHA256.hexString, person, method, clientAddress, String(absoluteSeconds), String(idleSeconds)])
    }

    /// The live session with this id hash (neither ended, nor past its absolute or idle
    /// lifetime), marking it seen; nil otherwise. `last_seen` is written at most every 15 s.
    static func session(idSHA256: [UInt8], on connection: PGConnection) throws(PGError) -> SessionRow? {
        guard
            let row = try connection.exec(
                """
                WITH live AS (
                    SELECT id_sha256, person, method FROM governance_ui_sessions
                    WHERE id_sha256 = decode($1, 'hex') AND ended_at IS NULL AND expires_at > now()
                      AND last_seen + make_interval(secs => idle_seconds) > now()
                ), touched AS (
                    UPDATE governance_ui_sessions SET last_seen = now()
                    WHERE id_sha256 IN (SELECT id_sha256 FROM live) AND last_seen < now() - interval '15 seconds'
                )
                SELECT live.person, live.method, u.name, u.role, array_to_string(u.workflows, ','), u.password_hash, u.oidc_subject
                FROM live LEFT JOIN governance_users u ON u.name = live.person
                """, [idSHA256.hexString]
            ).rows.first
        else { return nil }
        let user = row[2] == nil ? nil : Self.user(Array(row[2...]))
        return SessionRow(person: row[0] ?? "", method: row[1] ?? "", user: user)
    }

    /// Ends one session (by its id hash, or by the fingerprint the people page shows); false when it was not live.
    static func endSession(idSHA256: [UInt8]? = nil, fingerprint: String? = nil, by: String, on connection: PGConnection) throws(PGError) -> String? {
        try connection.exec(
            """
            UPDATE governance_ui_sessions SET ended_at = now(), ended_by = $3
            WHERE ended_at IS NULL AND (id_sha256 = decode($1, 'hex') OR left(encode(id_sha256, 'hex'), 16) = $2)
            RETURNING person
            """, [idSHA256?.hexString, fingerprint, by]
        ).rows.first?.first ?? nil
    }

    /// The live sessions, newest first.
    static func liveSessions(on connection: PGConnection) throws(PGError) -> [SessionListing] {
        try connection.exec(
            """
            SELECT left(encode(id_sha256, 'hex'), 16), person, method, client_address,
                   to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"'), to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"')
            FROM governance_ui_sessions
            WHERE ended_at IS NULL AND expires_at > now() AND last_seen + make_interval(secs => idle_seconds) > now()
            ORDER BY created_at DESC LIMIT 500
            """
        ).rows.map {
            SessionListing(
                fingerprint: $0[0] ?? "", person: $0[1] ?? "", method: $0[2] ?? "", clientAddress: $0[3], createdAt: $0[4] ?? "",
                lastSeen: $0[5] ?? "")
        }
    }

    static func addKey(
        fingerprint: String, keySHA256: [UInt8], person: String, method: String, name: String, scopes: [String], days: Int,
        on connection: PGConnection
    ) throws(PGError) {
        try connection.exec(
            """
            INSERT INTO governance_api_keys (fingerprint, key_sha256, person, method, name, scopes, expires_at)
            VALUES ($1, decode($2, 'hex'), $3, $4, $5, $6::text[], now() + make_interval(days => $7::int))
            """, [fingerprint, keySHA256.hexString, person, method, name, PGArray.text(scopes), String(days)])
    }

    /// The live key with this hash (not revoked, not expired), marking it used at most every 15 s.
    static func key(keySHA256: [UInt8], on connection: PGConnection) throws(PGError) -> KeyRow? {
        guard
            let row = try connection.exec(
                """
                WITH live AS (
                    SELECT fingerprint, person, method, scopes FROM governance_api_keys
                    WHERE key_sha256 = decode($1, 'hex') AND revoked_at IS NULL AND expires_at > now()
                ), touched AS (
                    UPDATE governance_api_keys SET last_used_at = now()
                    WHERE fingerprint IN (SELECT fingerprint FROM live) AND (last_used_at IS NULL OR last_used_at < now() - interval '15 seconds')
                )
                SELECT live.fingerprint, live.person, live.method, array_to_string(live.scopes, ','),
                       u.name, u.role, array_to_string(u.workflows, ','), u.password_hash, u.oidc_subject
                FROM live LEFT JOIN governance_users u ON u.name = live.person
                """, [keySHA256.hexString]
            ).rows.first
        else { return nil }
        return KeyRow(
            fingerprint: row[0] ?? "", person: row[1] ?? "", method: row[2] ?? "", scopes: (row[3] ?? "").split(separator: ",").map(String.init),
            user: row[4] == nil ? nil : user(Array(row[4...])))
    }

    /// The keys of `person` (every key when nil), newest first.
    static func keys(of person: String?, on connection: PGConnection) throws(PGError) -> [KeyListing] {
        try connection.exec(
            """
            SELECT fingerprint, person, name, array_to_string(scopes, ','),
                   to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'), to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'),
                   to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"'),
                   CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now() THEN 'expired' ELSE 'active' END
            FROM governance_api_keys WHERE $1::text IS NULL OR person = $1 ORDER BY created_at DESC LIMIT 500
            """, [person]
        ).rows.map {
            KeyListing(
                fingerprint: $0[0] ?? "", person: $0[1] ?? "", name: $0[2] ?? "", scopes: ($0[3] ?? "").split(separator: ",").map(String.init),
                createdAt: $0[4] ?? "", expiresAt: $0[5] ?? "", lastUsedAt: $0[6], state: $0[7] ?? "")
        }
    }

    /// Revokes a live key (of `person`, or anyone's when nil); its person, nil when there was none.
    static func revokeKey(fingerprint: String, of person: String?, on connection: PGConnection) throws(PGError) -> String? {
        try connection.exec(
            """
            UPDATE governance_api_keys SET revoked_at = now()
            WHERE fingerprint = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR person = $2) RETURNING person
            """, [fingerprint, person]
        ).rows.first?.first ?? nil
    }

    static func addLink(linkSHA256: [UInt8], person: String, browserSHA256: [UInt8], seconds: Int, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            INSERT INTO governance_signin_links (link_sha256, person, browser_sha256, expires_at)
            VALUES (decode($1, 'hex'), $2, decode($3, 'hex'), now() + make_interval(secs => $4::int))
            """, [linkSHA256.hexString, person, browserSHA256.hexString, String(seconds)])
    }

    /// Uses the link once: its person when it is unused, unexpired and opened by the browser
    /// that asked; nil otherwise (and a link opened elsewhere stays unused).
    static func useLink(linkSHA256: [UInt8], browserSHA256: [UInt8], on connection: PGConnection) throws(PGError) -> String? {
        try connection.exec(
            """
            UPDATE governance_signin_links SET used_at = now()
            WHERE link_sha256 = decode($1, 'hex') AND browser_sha256 = decode($2, 'hex') AND used_at IS NULL AND expires_at > now()
            RETURNING person
            """, [linkSHA256.hexString, browserSHA256.hexString]
        ).rows.first?.first ?? nil
    }

    /// Records an OpenID Connect login under way (and forgets those past their time).
    static func addOpenIDLogin(
        stateSHA256: [UInt8], browserSHA256: [UInt8], nonce: String, codeVerifier: String, seconds: Int, on connection: PGConnection
    ) throws(PGError) {
        try connection.exec("DELETE FROM governance_oidc_logins WHERE expires_at < now()")
        try connection.exec(
            """
            INSERT INTO governance_oidc_logins (state_sha256, browser_sha256, nonce, code_verifier, expires_at)
            VALUES (decode($1, 'hex'), decode($2, 'hex'), $3, $4, now() + make_interval(secs => $5::int))
            """, [stateSHA256.hexString, browserSHA256.hexString, nonce, codeVerifier, String(seconds)])
    }

    /// Takes the login once: its nonce and PKCE verifier when it is unexpired and the browser is
    /// the one that began it; nil otherwise (and a login answered in another browser stays open).
    static func takeOpenIDLogin(stateSHA256: [UInt8], browserSHA256: [UInt8], on connection: PGConnection) throws(PGError) -> (
        nonce: String, codeVerifier: String
    )? {
        guard
            let row = try connection.exec(
                """
                DELETE FROM governance_oidc_logins
                WHERE state_sha256 = decode($1, 'hex') AND browser_sha256 = decode($2, 'hex') AND expires_at > now()
                RETURNING nonce, code_verifier
                """, [stateSHA256.hexString, browserSHA256.hexString]
            ).rows.first, let nonce = row[0], let verifier = row[1]
        else { return nil }
        return (nonce, verifier)
    }

    /// The failures counted against each key within its window, and the seconds until that window ends.
    static func failures(keys: [String], windowSeconds: Int, on connection: PGConnection) throws(PGError) -> [String: Failures] {
        let rows = try connection.exec(
            """
            SELECT key, failures, ceil(extract(epoch FROM window_start + make_interval(secs => $2::int) - now()))::int
            FROM governance_signin_failures WHERE key = ANY($1::text[]) AND window_start > now() - make_interval(secs => $2::int)
            """, [PGArray.text(keys), String(windowSeconds)]
        ).rows
        var counted: [String: Failures] = [:]
        for row in rows {
            guard let key = row[0] else { continue }
            counted[key] = Failures(count: row[1].flatMap { Int($0) } ?? 0, retryAfter: row[2].flatMap { Int($0) } ?? 0)
        }
        return counted
    }

    /// Counts a failure against `key` (a fresh window once the last has passed); returns the count.
    static func countFailure(key: String, windowSeconds: Int, on connection: PGConnection) throws(PGError) -> Int {
        let rows = try connection.exec(
            """
            INSERT INTO governance_signin_failures AS f (key, failures, window_start) VALUES ($1, 1, now())
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN f.window_start <= now() - make_interval(secs => $2::int) THEN 1 ELSE f.failures + 1 END,
                window_start = CASE WHEN f.window_start <= now() - make_interval(secs => $2::int) THEN now() ELSE f.window_start END
            RETURNING failures
            """, [key, String(windowSeconds)]
        ).rows
        return rows.first?.first.flatMap { $0.flatMap { Int($0) } } ?? 1
    }

    static func clearFailures(key: String, on connection: PGConnection) throws(PGError) {
        try connection.exec("DELETE FROM governance_signin_failures WHERE key = $1", [key])
    }

    private static func user(_ row: [String?]) -> User {
        User(
            name: row[0] ?? "", role: row[1] ?? "", workflows: (row[2] ?? "").split(separator: ",").map(String.init), passwordHash: row[3],
            subject: row[4])
    }
}

/// The people tables of one database, for the UI: each call runs on the UI's connection pool.
package struct PostgresPeople: Sendable {
    let pool: PGWorkerPool

    package init(pool: PGWorkerPool) { self.pool = pool }

    package func user(_ name: String) async throws -> PeopleTables.User? {
        try await pool.run { connection in try PeopleTables.user(name, on: connection) }
    }

    package func users() async throws -> [PeopleTables.User] {
        try await pool.run { connection in try PeopleTables.users(on: connection) }
    }

    /// False when the name belongs to the other kind of person (see `PeopleTables.save`).
    package func save(_ user: PeopleTables.User) async throws -> Bool {
        try await pool.run { connection in try PeopleTables.save(user, on: connection) }
    }

    package func remove(_ name: String, subject: String? = nil, by person: String) async throws -> Bool {
        try await pool.run { connection in try PeopleTables.remove(name, subject: subject, by: person, on: connection) }
    }

    package func startSession(idSHA256: [UInt8], person: String, method: String, clientAddress: String?, absoluteSeconds: Int, idleSeconds: Int)
        async throws
    {
        try await pool.run { connection in
            try PeopleTables.startSession(
                idSHA256: idSHA256, person: person, method: method, clientAddress: clientAddress, absoluteSeconds: absoluteSeconds,
                idleSeconds: idleSeconds, on: connection)
        }
    }

    package func session(idSHA256: [UInt8]) async throws -> PeopleTables.SessionRow? {
        try await pool.run { connection in try PeopleTables.session(idSHA256: idSHA256, on: connection) }
    }

    /// Ends a live session; returns its person, nil when it was not live.
    package func endSession(idSHA256: [UInt8]? = nil, fingerprint: String? = nil, by person: String) async throws -> String? {
        try await pool.run { connection in
            try PeopleTables.endSession(idSHA256: idSHA256, fingerprint: fingerprint, by: person, on: connection)
        }
    }

    package func liveSessions() async throws -> [PeopleTables.SessionListing] {
        try await pool.run { connection in try PeopleTables.liveSessions(on: connection) }
    }

    package func addOpenIDLogin(stateSHA256: [UInt8], browserSHA256: [UInt8], nonce: String, codeVerifier: String, seconds: Int) async throws {
        try await pool.run { connection in
            try PeopleTables.addOpenIDLogin(
                stateSHA256: stateSHA256, browserSHA256: browserSHA256, nonce: nonce, codeVerifier: codeVerifier, seconds: seconds, on: connection)
        }
    }

    package func takeOpenIDLogin(stateSHA256: [UInt8], browserSHA256: [UInt8]) async throws -> (nonce: String, codeVerifier: String)? {
        try await pool.run { connection in try PeopleTables.takeOpenIDLogin(stateSHA256: stateSHA256, browserSHA256: browserSHA256, on: connection) }
    }

    /// Each key's failures within the window (a key with none is absent), in one read.
    package func failures(keys: [String], windowSeconds: Int) async throws -> [String: PeopleTables.Failures] {
        try await pool.run { connection in try PeopleTables.failures(keys: keys, windowSeconds: windowSeconds, on: connection) }
    }

    /// Counts a failure against each key; returns the highest count.
    package func countFailure(keys: [String], windowSeconds: Int) async throws -> Int {
        try await pool.run { connection in
            try keys.map { key in try PeopleTables.countFailure(key: key, windowSeconds: windowSeconds, on: connection) }.max() ?? 0
        }
    }

    package func addKey(fingerprint: String, keySHA256: [UInt8], person: String, method: String, name: String, scopes: [String], days: Int)
        async throws
    {
        try await pool.run { connection in
            try PeopleTables.addKey(
                fingerprint: fingerprint, keySHA256: keySHA256, person: person, method: method, name: name, scopes: scopes, days: days,
                on: connection)
        }
    }

    package func key(keySHA256: [UInt8]) async throws -> PeopleTables.KeyRow? {
        try await pool.run { connection in try PeopleTables.key(keySHA256: keySHA256, on: connection) }
    }

    package func keys(of person: String?) async throws -> [PeopleTables.KeyListing] {
        try await pool.run { connection in try PeopleTables.keys(of: person, on: connection) }
    }

    package func revokeKey(fingerprint: String, of person: String?) async throws -> String? {
        try await pool.run { connection in try PeopleTables.revokeKey(fingerprint: fingerprint, of: person, on: connection) }
    }

    package func addLink(linkSHA256: [UInt8], person: String, browserSHA256: [UInt8], seconds: Int) async throws {
        try await pool.run { connection in
            try PeopleTables.addLink(linkSHA256: linkSHA256, person: person, browserSHA256: browserSHA256, seconds: seconds, on: connection)
        }
    }

    package func useLink(linkSHA256: [UInt8], browserSHA256: [UInt8]) async throws -> String? {
        try await pool.run { connection in try PeopleTables.useLink(linkSHA256: linkSHA256, browserSHA256: browserSHA256, on: connection) }
    }

    package func clearFailures(key: String) async throws {
        try await pool.run { connection in try PeopleTables.clearFailures(key: key, on: connection) }
    }
}
