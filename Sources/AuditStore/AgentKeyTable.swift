public import Pipeline

/// The reference SDK's agent key tables (`governance_agent_keys`, `governance_agent_key_revocations`,
/// created by its alembic revision f6a1 with exactly this DDL), so SDK processes and collectors
/// share one registry: `AgentKeyRegistry.register_key` and `RevocationStore.revoke_async` write
/// rows the collector loads, and `governance-collector agent-key` writes rows the SDK reads.
public enum AgentKeyTable {
    public static let schema = SchemaSteps(
        owner: "agent_keys",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_agent_keys (
                key_fingerprint        TEXT NOT NULL,
                agent_id               TEXT NOT NULL,
                public_key_pem         TEXT NOT NULL,
                activated_at_chain_seq BIGINT NOT NULL,
                created_at             TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
                PRIMARY KEY (key_fingerprint)
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_agent_keys_agent ON governance_agent_keys (agent_id)",
            """
            CREATE TABLE IF NOT EXISTS governance_agent_key_revocations (
                id                   BIGSERIAL NOT NULL,
                key_fingerprint      TEXT NOT NULL,
                revoked_at_chain_seq BIGINT NOT NULL,
                reason               TEXT NOT NULL,
                operator_id          TEXT NOT NULL,
                created_at           TIMESTAMP WITH TIME ZONE DEFAULT NOW() NOT NULL,
                PRIMARY KEY (id),
                CONSTRAINT uq_revocation_fp_seq UNIQUE (key_fingerprint, revoked_at_chain_seq)
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_revocations_fp ON governance_agent_key_revocations (key_fingerprint)",
            "REVOKE UPDATE, DELETE ON governance_agent_keys FROM PUBLIC",
            "REVOKE UPDATE, DELETE ON governance_agent_key_revocations FROM PUBLIC",
        ])

    /// The registered keys by their rows' fingerprints (the SDK looks keys up by that column), the
    /// revoked fingerprints, and the rows whose PEM is not an Ed25519 key. One statement, so keys
    /// and revocations come from one snapshot.
    public static func load(_ connection: PGConnection) throws(PGError) -> (
        keys: [String: AgentPublicKey], revoked: Set<String>, unreadable: [String]
    ) {
        let rows = try connection.exec(
            """
            SELECT 'k', key_fingerprint, public_key_pem FROM governance_agent_keys
            UNION ALL SELECT DISTINCT 'r', key_fingerprint, NULL FROM governance_agent_key_revocations
            """
        ).rows
        var keys: [String: AgentPublicKey] = [:], revoked = Set<String>(), unreadable: [String] = []
        for row in rows {
            guard let fingerprint = row[1] else { continue }
            if row[0] == "r" {
                revoked.insert(fingerprint)
            } else if let key = try? AgentPublicKey(pem: row[2] ?? "") {
                keys[fingerprint] = key
            } else {
                unreadable.append(fingerprint)
            }
        }
        return (keys, revoked, unreadable)
    }

    /// True when both tables exist (the collector's migration, or the SDK's, creates them).
    public static func exists(_ connection: PGConnection) throws(PGError) -> Bool {
        try connection.exec(
            """
            SELECT to_regclass('governance_agent_keys') IS NOT NULL AND to_regclass('governance_agent_key_revocations') IS NOT NULL
            """
        ).rows.first?.first == "t"
    }

    /// Registers `key` for `agentID` as the SDK's `register_key` does, active from the table's
    /// current last `chain_seq`. False when the fingerprint was already registered.
    public static func add(_ key: AgentPublicKey, agentID: String, _ connection: PGConnection) throws(PGError) -> Bool {
        try connection.exec(
            """
            INSERT INTO governance_agent_keys (key_fingerprint, agent_id, public_key_pem, activated_at_chain_seq)
            SELECT $1, $2, $3, coalesce(max(chain_seq), 0) FROM governance_audit_events
            ON CONFLICT (key_fingerprint) DO NOTHING
            """, [key.fingerprint, agentID, key.pem]
        ).affected == 1
    }

    /// Records a revocation at the table's current last `chain_seq`, as the SDK's
    /// `revoke_with_chain_event` does (without its chain event). False when one is already there.
    public static func revoke(fingerprint: String, reason: String, operatorID: String, _ connection: PGConnection) throws(PGError) -> Bool {
        try connection.exec(
            """
            INSERT INTO governance_agent_key_revocations (key_fingerprint, revoked_at_chain_seq, reason, operator_id)
            SELECT $1, coalesce(max(chain_seq), 0), $2, $3 FROM governance_audit_events
            ON CONFLICT (key_fingerprint, revoked_at_chain_seq) DO NOTHING
            """, [fingerprint, reason, operatorID]
        ).affected == 1
    }

    /// One registered or revoked fingerprint, for `agent-key list`.
    public struct Listed: Sendable {
        public var fingerprint: String
        /// nil for a fingerprint revoked here but registered elsewhere (e.g. in the configuration).
        public var agentID: String?
        public var activatedAtChainSeq: String?
        public var createdAt: String?
        /// The first revocation: its chain_seq and reason.
        public var revokedAtChainSeq: String?
        public var reason: String?
    }

    public static func list(_ connection: PGConnection) throws(PGError) -> [Listed] {
        try connection.exec(
            """
            SELECT coalesce(k.key_fingerprint, r.key_fingerprint), k.agent_id, k.activated_at_chain_seq::text, k.created_at::text,
                   r.revoked_at_chain_seq::text, r.reason
            FROM governance_agent_keys k
            FULL JOIN (SELECT DISTINCT ON (key_fingerprint) key_fingerprint, revoked_at_chain_seq, reason
                       FROM governance_agent_key_revocations ORDER BY key_fingerprint, revoked_at_chain_seq) r
              ON r.key_fingerprint = k.key_fingerprint
            ORDER BY k.created_at NULLS LAST, 1
            """
        ).rows.map { row in
            Listed(
                fingerprint: row[0] ?? "", agentID: row[1], activatedAtChainSeq: row[2], createdAt: row[3],
                revokedAtChainSeq: row[4], reason: row[5])
        }
    }

    /// The keys and their revocations as JSON arrays, as stored (for an evidence bundle); empty
    /// when no collector has made the tables.
    public static func json(_ connection: PGConnection) throws(PGError) -> (keys: String, revocations: String) {
        guard try exists(connection) else { return ("[]", "[]") }
        let row = try connection.exec(
            """
            SELECT (SELECT coalesce(json_agg(k ORDER BY k.key_fingerprint), '[]') FROM governance_agent_keys k),
                   (SELECT coalesce(json_agg(r ORDER BY r.id), '[]') FROM governance_agent_key_revocations r)
            """
        ).rows.first
        return (row?[0] ?? "[]", row?[1] ?? "[]")
    }
}
