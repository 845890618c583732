public import Pipeline

/// The `governance_audit_events` table, compatible with the reference SDK's (its columns, indexes
/// and append-only triggers under the same names, so SDK processes and collectors can share one
/// table), plus the collector's own columns, and the migration that creates every owner's tables.
/// Every statement is idempotent, so `migrate` can run on every start, on an empty database or
/// on one the SDK created.
public enum AuditSchema {
    public static let table = "governance_audit_events"
    public static let version = 15

    /// A fixed key for `pg_advisory_lock`, so two collectors starting at once migrate one at a time.
    static let migrationLockKey: Int64 = 0x6763_6d69_6772_6174  // "gcmigrat"

    /// The audit table and the per-workflow seq counter the commit transaction reserves from.
    public static let auditEvents = SchemaSteps(
        owner: "audit_events",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_audit_events (
                chain_seq       BIGSERIAL    NOT NULL,
                event_id        UUID         PRIMARY KEY,
                session_id      UUID         NOT NULL,
                agent_id        VARCHAR(256) NOT NULL,
                parent_event_id UUID         NULL,
                kind            VARCHAR(128) NOT NULL,
                input_hash      VARCHAR(128) NULL,
                output_hash     VARCHAR(128) NULL,
                metadata_json   JSONB        NOT NULL DEFAULT '{}'::jsonb,
                prev_hash       VARCHAR(128) NULL,
                hmac_value      VARCHAR(128) NOT NULL,
                created_at      TIMESTAMPTZ  NOT NULL,
                -- The inserting transaction, so readers can follow the table in commit order
                -- (AuditTableFollower: `tail`, the bridge's durable mode). Only new tables get it
                -- here: adding it to a large existing table rewrites the table.
                governance_txid xid8         NOT NULL DEFAULT pg_current_xact_id()
            )
            """,
            """
            DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'governance_audit_events'::regclass AND attname = 'governance_txid') THEN
                    CREATE INDEX IF NOT EXISTS idx_audit_txid ON governance_audit_events (governance_txid, chain_seq);
                END IF;
            END $$
            """,
            // Columns the SDK adds in later versions.
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS model VARCHAR(128) NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS signature BYTEA NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS signing_key_fingerprint TEXT NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS signature_status TEXT NOT NULL DEFAULT 'unsigned'",
            // The collector's columns: NULL on rows the SDK writes directly.
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS workflow TEXT NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS client_seq BIGINT NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS sdk_version TEXT NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS decision TEXT NULL",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS received_at TIMESTAMPTZ NULL DEFAULT now()",
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS seq BIGINT NULL",
            // Chain key rotation as the SDK records it (its migration f6b2_chain_key_rotation, same
            // DDL): a marker row's second MAC under the incoming key, and the key versions by
            // salted fingerprint with the global chain_seq range each covers.
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS hmac_next VARCHAR(128) NULL",
            """
            CREATE TABLE IF NOT EXISTS governance_audit_chain_keys (
                key_version            SERIAL      PRIMARY KEY,
                fingerprint            TEXT        NOT NULL UNIQUE,
                activated_at_chain_seq BIGINT      NOT NULL,
                retired_at_chain_seq   BIGINT      NULL,
                created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_chain_keys_active_window ON governance_audit_chain_keys (activated_at_chain_seq)",
            // The client's signature_status when `agent_signatures` stored a different verdict (version 6).
            "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS client_signature_status TEXT NULL",
            // Gapless per-workflow seq: the counter row is locked by the transaction that reserves from it.
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_audit_workflow_seq_unique ON governance_audit_events (workflow, seq) WHERE seq IS NOT NULL",
            """
            CREATE TABLE IF NOT EXISTS governance_collector_seq (
                workflow TEXT PRIMARY KEY,
                last_seq BIGINT NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_audit_session     ON governance_audit_events (session_id)",
            "CREATE INDEX IF NOT EXISTS idx_audit_session_seq ON governance_audit_events (session_id, chain_seq DESC)",
            "CREATE INDEX IF NOT EXISTS idx_audit_agent       ON governance_audit_events (agent_id)",
            "CREATE INDEX IF NOT EXISTS idx_audit_parent      ON governance_audit_events (parent_event_id)",
            "CREATE INDEX IF NOT EXISTS idx_audit_created     ON governance_audit_events (created_at)",
            // Pages in (created_at, event_id) order (version 14): a page's cursor is a row
            // comparison on both, which only an index on both reads from where it is; on created_at
            // alone, each page scanned from the newest row to the cursor. Built in the migration's
            // transaction; on a large table, build it first CONCURRENTLY (docs/operations.md).
            "CREATE INDEX IF NOT EXISTS idx_audit_created_event ON governance_audit_events (created_at, event_id)",
            "CREATE INDEX IF NOT EXISTS idx_audit_workflow_seq ON governance_audit_events (workflow, chain_seq)",
            // Metadata search (version 7): one GIN index over the words of every key and value, which
            // narrows key=value, key-exists and text filters before jsonb operators decide. Built in
            // the migration's transaction, which blocks writes while it builds on a large existing
            // table: build it first with CREATE INDEX CONCURRENTLY under this name (docs/operations.md).
            "CREATE INDEX IF NOT EXISTS idx_audit_metadata_words ON governance_audit_events USING gin ((\(metadataWords)))",
            // A rare word must be estimated as rare, or the planner walks created_at computing every
            // row's words until a page is full (2.2 s at 10M rows instead of 15 ms). With the default
            // target, whether rare words survive ANALYZE's sample decides the plan run to run (5M
            // rows, 6 ANALYZEs: estimates of 25,000 or 1,000 rows for one of 500); at 1000 they were
            // 383 to 567 every time, and ANALYZE took 2.9 s.
            "ALTER INDEX idx_audit_metadata_words ALTER COLUMN 1 SET STATISTICS 1000",
            // Append-only, but for retention (version 8): a DELETE passes only in the transaction
            // that recorded a seal covering the row and wrote that seal's audit event
            // (RetentionRecord), so every removal is sealed and shows in the audit trail.
            """
            CREATE OR REPLACE FUNCTION governance_audit_append_only()
            RETURNS TRIGGER AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND to_regclass('governance_retention_seals') IS NOT NULL THEN
                    IF EXISTS (
                        SELECT 1 FROM governance_retention_seals s JOIN governance_audit_events e ON e.event_id = s.seal_id
                        WHERE s.sealed_txid = pg_current_xact_id() AND e.governance_txid = s.sealed_txid
                          AND (OLD.governance_txid, OLD.chain_seq) <= (s.cut_txid, s.cut_chain_seq)) THEN
                        RETURN OLD;
                    END IF;
                END IF;
                RAISE EXCEPTION 'governance_audit_events is append-only: % is not permitted', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """,
            appendOnlyFunction,
            "DROP TRIGGER IF EXISTS trg_audit_no_update ON governance_audit_events",
            "CREATE TRIGGER trg_audit_no_update BEFORE UPDATE ON governance_audit_events FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()",
            "DROP TRIGGER IF EXISTS trg_audit_no_delete ON governance_audit_events",
            "CREATE TRIGGER trg_audit_no_delete BEFORE DELETE ON governance_audit_events FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only()",
            // The SDK relies on REVOKE for TRUNCATE; a statement trigger also stops superusers by mistake.
            "DROP TRIGGER IF EXISTS trg_audit_no_truncate ON governance_audit_events",
            "CREATE TRIGGER trg_audit_no_truncate BEFORE TRUNCATE ON governance_audit_events FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_append_only()",
        ])

    /// The trigger function of the store's other append-only tables (retention seals, checkpoints,
    /// Merkle leaves); `CheckpointTables`' steps, which migrate on their own, create it too.
    public static let appendOnlyFunction = """
        CREATE OR REPLACE FUNCTION governance_append_only()
        RETURNS TRIGGER AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is not permitted', TG_TABLE_NAME, TG_OP;
        END;
        $$ LANGUAGE plpgsql
        """

    /// The words of a row's metadata (keys and values, the `simple` configuration: no stemming,
    /// no stop words), as the metadata search index stores them; queries must spell it the same.
    public static let metadataWords = "jsonb_to_tsvector('simple'::regconfig, metadata_json, '\"all\"'::jsonb)"

    /// The columns `governance_audit_events` has: readers check these, so they work read-only on a
    /// table the SDK created, which lacks the collector's.
    public static func columns(_ connection: PGConnection) throws(PGError) -> Set<String> {
        let columns = Set(
            try connection.exec(
                """
                SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('governance_audit_events') AND attnum > 0 AND NOT attisdropped
                """
            ).rows.compactMap { $0[0] })
        guard !columns.isEmpty else { throw PGError(message: "there is no governance_audit_events table", sqlState: nil, connectionLost: false) }
        return columns
    }

    /// The recorded schema version, created last.
    static let versionTable = SchemaSteps(
        owner: "schema_version",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_collector_schema (
                version     INTEGER     NOT NULL,
                migrated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        ])

    /// Every typed store's tables, the audit table first and the version last: the one list
    /// of what the collector keeps in PostgreSQL. (`CheckpointTables` is created when a signer
    /// starts, for the reason it gives.)
    static let steps: [SchemaSteps] = [
        auditEvents, RetentionRecord.schema, PostgresTokenStore.schema, AgentKeyTable.schema, EventRollup.schema, StagedSpans.schema,
        GenAIUsage.schema, BudgetLedger.schema, WitnessDeliveries.schema, BridgeStateStore.schema, GateTable.schema, PeopleTables.schema,
        AlertTables.schema, versionTable,
    ]

    /// The inserting transaction's id on every row, to follow the table in commit order
    /// (checkpoints, the bridge's durable mode). New tables have it from `auditEvents`; on a
    /// table the SDK created, adding it rewrites the table, so only its users add it.
    public static let commitOrderColumn = [
        "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS governance_txid xid8 NOT NULL DEFAULT pg_current_xact_id()",
        "CREATE INDEX IF NOT EXISTS idx_audit_txid ON governance_audit_events (governance_txid, chain_seq)",
    ]

    /// Creates or upgrades the schema in one transaction, serialized across collectors.
    /// Returns true when it changed the recorded version.
    @discardableResult
    public static func migrate(_ connection: PGConnection) throws(PGError) -> Bool {
        try inMigration(connection) { () throws(PGError) in
            for owner in steps {
                for statement in owner.statements { try connection.exec(statement) }
            }
            let current = try connection.exec("SELECT coalesce(max(version), 0) FROM governance_collector_schema")
            let changed = Int(current.rows.first?.first.flatMap { $0 } ?? "0") != version
            if changed { try connection.exec("INSERT INTO governance_collector_schema (version) VALUES (\(version))") }
            return changed
        }
    }

    /// Runs `body` in one transaction under the migration lock, so collectors starting at once
    /// change the schema one at a time; rolled back if it throws.
    public static func inMigration<T>(_ connection: PGConnection, _ body: () throws(PGError) -> T) throws(PGError) -> T {
        try connection.transaction { () throws(PGError) in
            try connection.exec("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
            // Quiet the NOTICEs that IF NOT EXISTS emits on every start.
            try connection.exec("SET LOCAL client_min_messages = warning")
            return try body()
        }
    }

    /// True when the table exists with the collector's columns (for readiness without migrating).
    public static func isMigrated(_ connection: PGConnection) throws(PGError) -> Bool {
        let rows = try connection.exec(
            "SELECT coalesce((SELECT max(version) FROM governance_collector_schema), 0) >= \(version) WHERE to_regclass('governance_collector_schema') IS NOT NULL"
        )
        return rows.rows.first?.first == "t"
    }
}
