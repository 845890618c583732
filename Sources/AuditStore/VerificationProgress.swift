import Config

/// The continuous verifier's row in `governance_verification_state` (a table of
/// `CheckpointTables`): its own tree, recomputed from the audit table and never taken from the
/// signer's, how far into the table it has read, the largest signed checkpoint that tree
/// matched, and the first failure it found, kept until an operator clears it.
public struct VerificationProgress: Sendable {
    public var tree: CheckpointTables.TreeState
    public var checkedSize = 0
    public var rowsChecked: Int64 = 0
    /// What the audit table's in-place change counters read last time (`VerificationStep`).
    public var changeMark: String?
    public var failure: String?
    /// Seconds since the failure was found, or since the last step.
    public var failedSecondsAgo: Double?
    public var updatedSecondsAgo = 0.0

    public init(tree: CheckpointTables.TreeState) {
        self.tree = tree
    }

    /// True while `connection` holds the verifier lock (taken here when free).
    public static func holdsLock(_ connection: PGConnection) throws(PGError) -> Bool {
        try connection.holdsSessionLock(CheckpointTables.verifierLockKey)
    }

    /// Nil before a verifier's first step (or on a database whose checkpoint tables predate it).
    public static func load(_ connection: PGConnection) throws(PGError) -> VerificationProgress? {
        guard try connection.exec("SELECT to_regclass('governance_verification_state') IS NOT NULL").rows.first?.first == "t" else { return nil }
        guard
            let row = try connection.exec(
                """
                SELECT tree_size, cursor_txid::text, cursor_chain_seq, encode(frontier, 'hex'), checked_size, rows_checked, change_mark, failure,
                       extract(epoch FROM now() - failed_at)::float8, extract(epoch FROM now() - updated_at)::float8
                FROM governance_verification_state
                """
            ).rows.first
        else { return nil }
        guard let size = row[0].flatMap({ Int($0) }), let txid = row[1], let chainSeq = row[2].flatMap({ Int64($0) }),
            let frontier = Hex.bytes(row[3] ?? "")
        else {
            throw PGError(
                message: "governance_verification_state does not describe a tree (size \(row[0] ?? "?"))", sqlState: nil, connectionLost: false)
        }
        var progress = VerificationProgress(tree: .init(size: size, frontier: frontier, cursor: .init(txid: txid, chainSeq: chainSeq)))
        progress.checkedSize = row[4].flatMap { Int($0) } ?? 0
        progress.rowsChecked = row[5].flatMap { Int64($0) } ?? 0
        progress.changeMark = row[6]
        progress.failure = row[7]
        progress.failedSecondsAgo = row[8].flatMap { Double($0) }
        progress.updatedSecondsAgo = row[9].flatMap { Double($0) } ?? 0
        return progress
    }

    /// Saves the progress; a failure already recorded stays (the first bad row is the one to name).
    public func save(_ connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            INSERT INTO governance_verification_state
                (tree_size, cursor_txid, cursor_chain_seq, frontier, checked_size, rows_checked, change_mark, failure, failed_at)
            VALUES ($1, $2::xid8, $3, decode($4, 'hex'), $5, $6, $7, $8, CASE WHEN $8::text IS NULL THEN NULL ELSE now() END)
            ON CONFLICT (singleton) DO UPDATE SET tree_size = EXCLUDED.tree_size, cursor_txid = EXCLUDED.cursor_txid,
                cursor_chain_seq = EXCLUDED.cursor_chain_seq, frontier = EXCLUDED.frontier, checked_size = EXCLUDED.checked_size,
                rows_checked = EXCLUDED.rows_checked, change_mark = EXCLUDED.change_mark,
                failure = coalesce(governance_verification_state.failure, EXCLUDED.failure),
                failed_at = coalesce(governance_verification_state.failed_at, EXCLUDED.failed_at), updated_at = now()
            """,
            [
                String(tree.size), tree.cursor.txid, String(tree.cursor.chainSeq), tree.frontier.hexString, String(checkedSize), String(rowsChecked),
                changeMark, failure,
            ])
    }

    /// Counters PostgreSQL keeps of rows updated or deleted in place in the audit table, and its
    /// file (TRUNCATE and VACUUM FULL give it a new one). The table is append-only, so a change
    /// means an insider with the triggers off, retention, a migration, or a stats reset: each
    /// worth checking the whole table again. Needs `track_counts` (on by default).
    public static func changeMark(_ connection: PGConnection) throws(PGError) -> String {
        let row = try connection.exec(
            """
            SELECT coalesce(s.n_tup_upd + s.n_tup_del, 0)::text || '/' || pg_relation_filenode(c.oid)::text || '/' || current_setting('track_counts')
            FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'governance_audit_events'::regclass
            """
        ).rows.first
        return (row?[0] ?? nil) ?? "?"
    }
}
