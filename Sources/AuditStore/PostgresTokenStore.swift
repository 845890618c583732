import Config
import Foundation
public import Logging
public import Pipeline
public import ServiceLifecycle
import Synchronization

/// The managed workflow tokens of one database (`governance_workflow_tokens`), held in memory
/// for ingest and refreshed every second, so a token issued or revoked by another collector on
/// the same database takes effect here within a second. Changes made through this store (the
/// timeline UI) refresh it before they return: a revoked token is refused from then on.
/// If the database is unreachable the last snapshot stays in force.
public final class PostgresTokenStore: ManagedTokens, Service, Sendable {
    public struct Token: Sendable {
        public var fingerprint: String
        public var workflow: String
        public var createdAt: Timestamp
        public var revokedAt: Timestamp?
    }

    private let worker: PGWorker
    /// The active tokens, and the number of the read they came from: a refresh whose read came
    /// before another's never replaces it. Without that, a periodic refresh that read just before
    /// a revocation but finished after it would put the revoked token back.
    private let active = Mutex<(read: UInt64, tokens: [[UInt8]: String])>((0, [:]))
    /// Numbers the reads in the order the database answered them.
    private let reads = Atomic<UInt64>(0)
    /// Whether the table exists yet (the exporter's migration creates it); then no longer asked.
    private let tableSeen = Atomic<Bool>(false)
    private let logger: Logger
    public let refreshInterval: Duration
    /// What the refresh interval is timed by (the collector's clock).
    private let clock: any Clock<Duration>

    /// The workflows and their tokens, created by the store's migration.
    public static let schema = SchemaSteps(
        owner: "workflow_tokens",
        statements: [
            // Workflows and the ingest tokens the timeline UI issues: only SHA-256 digests are kept;
            // a revoked token keeps its row (who had it, when it stopped) with revoked_at set.
            """
            CREATE TABLE IF NOT EXISTS governance_workflows (
                name       TEXT        PRIMARY KEY,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_workflow_tokens (
                token_sha256 BYTEA       PRIMARY KEY,
                fingerprint  TEXT        NOT NULL UNIQUE,
                workflow     TEXT        NOT NULL REFERENCES governance_workflows (name),
                created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
                revoked_at   TIMESTAMPTZ NULL
            )
            """,
        ])

    public init(dsn: String, logger: Logger, refreshInterval: Duration = .seconds(1), clock: any Clock<Duration>) {
        worker = PGWorker(dsn: dsn, applicationName: "governance-collector-tokens")
        self.logger = logger
        self.refreshInterval = refreshInterval
        self.clock = clock
    }

    public func workflow(forDigest digest: [UInt8]) -> String? {
        active.withLock { $0.tokens[digest] }
    }

    public func run() async throws {
        await RefreshLoop.run("tokens", every: refreshInterval, on: clock, logger: logger, keeping: "tokens") { try await refresh() }
    }

    /// Reloads the active tokens now. A table not created yet (the exporter migrates it) means none.
    public func refresh() async throws {
        let (read, rows) = try await worker.run { connection in
            if !self.tableSeen.load(ordering: .relaxed) {
                guard try connection.exec("SELECT to_regclass('governance_workflow_tokens') IS NOT NULL").rows.first?.first == "t" else {
                    return (self.reads.add(1, ordering: .relaxed).newValue, [[String?]]())
                }
                self.tableSeen.store(true, ordering: .relaxed)
            }
            let rows = try connection.exec("SELECT encode(token_sha256, 'hex'), workflow FROM governance_workflow_tokens WHERE revoked_at IS NULL")
                .rows
            return (self.reads.add(1, ordering: .relaxed).newValue, rows)
        }
        var tokens: [[UInt8]: String] = [:]
        for row in rows {
            if let hex = row[0], let digest = Hex.bytes(hex), let workflow = row[1] { tokens[digest] = workflow }
        }
        active.withLock { current in
            if read > current.read { current = (read, tokens) }
        }
    }

    /// Creates the workflow if it is new and issues a token for it; returns the token, which
    /// exists nowhere else afterwards (only its digest is stored).
    public func issue(workflow: String) async throws -> (token: String, fingerprint: String) {
        let token = IngestToken.generate()
        let digest = IngestToken.digest(token)
        let fingerprint = Self.fingerprint(digest)
        try await worker.run { connection in
            try connection.transaction { () throws(PGError) in
                try connection.exec("INSERT INTO governance_workflows (name) VALUES ($1) ON CONFLICT DO NOTHING", [workflow])
                try connection.exec(
                    "INSERT INTO governance_workflow_tokens (token_sha256, fingerprint, workflow) VALUES (decode($1, 'hex'), $2, $3)",
                    [digest.hexString, fingerprint, workflow])
            }
        }
        try await refresh()
        return (token, fingerprint)
    }

    /// Revokes a token by fingerprint; true if an active token was revoked. Refreshes before
    /// returning, so this collector refuses the token from then on.
    @discardableResult
    public func revoke(fingerprint: String) async throws -> Bool {
        let revoked = try await worker.run { connection in
            try connection.exec(
                "UPDATE governance_workflow_tokens SET revoked_at = now() WHERE fingerprint = $1 AND revoked_at IS NULL",
                [fingerprint]
            ).affected
        }
        try await refresh()
        return revoked == 1
    }

    /// Every managed token, newest first (fingerprints only).
    public func list() async throws -> [Token] {
        try await worker.run { connection in
            try connection.exec(
                """
                SELECT fingerprint, workflow, (extract(epoch FROM created_at) * 1000000)::int8, (extract(epoch FROM revoked_at) * 1000000)::int8
                FROM governance_workflow_tokens ORDER BY created_at DESC, fingerprint
                """
            ).rows.map { row in
                Token(
                    fingerprint: row[0] ?? "", workflow: row[1] ?? "",
                    createdAt: Timestamp(microseconds: Int64(row[2] ?? "0") ?? 0),
                    revokedAt: row[3].flatMap { Int64($0) }.map(Timestamp.init(microseconds:)))
            }
        }
    }

    /// What the UI and logs show for a token: 12 hex digits of its SHA-256 (never the token).
    static func fingerprint(_ digest: [UInt8]) -> String {
        String(digest.prefix(6).hexString)
    }
}
