public import Pipeline

/// Event counts per minute and per hour by workflow, agent, kind, decision and tool
/// (`metadata.tool`), kept incrementally from the audit table for the dashboard, so its charts
/// read a few thousand rollup rows instead of millions of events. It follows the table in
/// commit order with the durable bridge's rule (only transactions older than every running one,
/// so a late commit is never skipped), which also counts the rows the SDK writes itself. Each
/// step folds rows and moves the cursor in one transaction: a row is counted exactly once, and
/// several collectors can run steps (the cursor row is claimed with `SKIP LOCKED`).
public enum EventRollup {
    /// The bucket widths kept, in seconds, with `date_trunc`'s unit names: the last hour reads
    /// minutes, the last day hours, the last week days (a week of hours is 168 buckets of every
    /// agent, kind and tool: about a second at 10 million rows, against milliseconds for 8 days).
    public static let widths: [(seconds: Int, unit: String)] = [(60, "minute"), (3600, "hour"), (86400, "day")]

    public static let schema = SchemaSteps(
        owner: "rollup",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_event_rollup (
                width    INTEGER     NOT NULL,
                bucket   TIMESTAMPTZ NOT NULL,
                workflow TEXT        NOT NULL,
                agent_id TEXT        NOT NULL,
                kind     TEXT        NOT NULL,
                decision TEXT        NOT NULL,
                tool     TEXT        NOT NULL,
                events   BIGINT      NOT NULL,
                PRIMARY KEY (width, bucket, workflow, agent_id, kind, decision, tool)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_rollup_state (
                id               INTEGER     PRIMARY KEY CHECK (id = 1),
                cursor_txid      xid8        NOT NULL,
                cursor_chain_seq BIGINT      NOT NULL,
                updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            "INSERT INTO governance_rollup_state (id, cursor_txid, cursor_chain_seq) VALUES (1, '0', 0) ON CONFLICT (id) DO NOTHING",
            // The day width (schema version 8), from the hours folded before it existed.
            """
            INSERT INTO governance_event_rollup (width, bucket, workflow, agent_id, kind, decision, tool, events)
            SELECT 86400, date_trunc('day', bucket, 'UTC'), workflow, agent_id, kind, decision, tool, sum(events) FROM governance_event_rollup
            WHERE width = 3600 AND NOT EXISTS (SELECT 1 FROM governance_event_rollup WHERE width = 86400)
            GROUP BY 2, 3, 4, 5, 6, 7
            """,
        ])

    /// Each workflow's event count and last day with events, from the day buckets (as far as
    /// the rollup has followed the table): no row of the audit table is counted. Only
    /// `workflows` when given (a reader's scope).
    public static func workflowTotals(workflows: [String]?, on connection: PGConnection) throws(PGError) -> [(
        workflow: String, events: Int64, lastDay: String
    )] {
        try connection.exec(
            """
            SELECT workflow, sum(events)::int8, to_char(max(bucket) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM governance_event_rollup
            WHERE width = 86400 AND ($1::text[] IS NULL OR workflow = ANY($1::text[]))
            GROUP BY workflow ORDER BY workflow
            """, [workflows.map(PGArray.text)]
        ).rows.map { ($0[0] ?? "", Int64($0[1] ?? "0") ?? 0, $0[2] ?? "") }
    }

    /// A row's dimensions as the rollup stores them (the dashboard's tail query spells them the same).
    public static func dimensions(unit: String) -> String {
        """
        date_trunc('\(unit)', created_at, 'UTC') AS bucket, coalesce(workflow, '') AS workflow, agent_id::text AS agent_id, kind::text AS kind,
        coalesce(decision, 'none') AS decision, coalesce(left(metadata_json->>'tool', 128), '') AS tool
        """
    }

    /// What the dashboard counts for one window: per bucket, agent, kind and tool (each with its
    /// decision), and how many rows were not folded yet. `dimension` is the bucket's start in µs
    /// since the epoch, or the agent, kind or tool; nil for the unfolded count.
    public struct Count: Sendable {
        public enum Grouping: Sendable { case bucket, agent, kind, tool, unfolded }
        public var grouping: Grouping
        public var dimension: String?
        public var decision: String
        public var events: Int64
    }

    /// The window's counts from the rollup plus the rows committed since its last step, so they
    /// are exact, in the caller's REPEATABLE READ transaction, whose snapshot this takes first
    /// (returned, so a live stream skips what was counted). `from`: the first bucket (µs).
    public static func window(
        width: (seconds: Int, unit: String), seconds: Int64, workflow: String?,
        on connection: PGConnection
    ) throws(PGError) -> (snapshot: PGSnapshot?, from: Int64, counts: [Count]) {
        let snapshot = try connection.exec("SELECT pg_current_snapshot()::text").rows.first?[0].flatMap(PGSnapshot.init)
        let unit = width.unit
        let from =
            try connection.exec("SELECT (extract(epoch FROM date_trunc('\(unit)', now() - interval '\(seconds) seconds', 'UTC')) * 1000000)::int8")
            .rows.first?[0].flatMap { Int64($0) } ?? 0
        // The rollup's cursor as values, not a join: knowing it is near the table's end, the
        // planner reads the unfolded tail through the commit-order index; through a join it
        // scanned every row of the window by created_at (0.7 s for the last 7 days of 10M rows).
        let cursor =
            try connection.exec("SELECT cursor_txid::text, cursor_chain_seq FROM governance_rollup_state WHERE id = 1").rows.first ?? ["0", "0"]
        var params: [String?] = [String(width.seconds), Timestamp(microseconds: from).pythonISOFormat, cursor[0], cursor[1]]
        var workflowCondition = ""
        if let workflow {
            params.append(workflow)
            workflowCondition = " AND workflow = $5"
        }
        let rows = try connection.exec(
            """
            WITH counts AS (
                SELECT bucket, workflow, agent_id, kind, decision, tool, events, false AS unfolded FROM governance_event_rollup
                WHERE width = $1::int4 AND bucket >= $2::timestamptz\(workflowCondition)
                UNION ALL
                SELECT *, 1::int8, true FROM (
                    SELECT \(dimensions(unit: unit)) FROM governance_audit_events
                    WHERE (governance_txid, chain_seq) > ($3::xid8, $4::int8) AND created_at >= $2::timestamptz
                ) tail WHERE true\(workflowCondition)
            )
            SELECT grouping(bucket, agent_id, kind, tool, unfolded), (extract(epoch FROM bucket) * 1000000)::int8, agent_id, kind, tool, decision, unfolded, sum(events)::int8
            FROM counts GROUP BY GROUPING SETS ((bucket, decision), (agent_id, decision), (kind, decision), (tool, decision), (unfolded))
            """, params
        ).rows
        let counts = rows.compactMap { row -> Count? in
            guard let grouping = row[0].flatMap({ Int($0) }), let n = row[7].flatMap({ Int64($0) }) else { return nil }
            let decision = row[5] ?? "none"
            // grouping() sets a bit for each argument not in the row's set: bucket 16, agent 8, kind 4, tool 2, unfolded 1.
            switch grouping {
            case 0b01111: return Count(grouping: .bucket, dimension: row[1], decision: decision, events: n)
            case 0b10111: return Count(grouping: .agent, dimension: row[2] ?? "", decision: decision, events: n)
            case 0b11011: return Count(grouping: .kind, dimension: row[3] ?? "", decision: decision, events: n)
            case 0b11101: return Count(grouping: .tool, dimension: row[4] ?? "", decision: decision, events: n)
            case 0b11110: return row[6] == "t" ? Count(grouping: .unfolded, dimension: nil, decision: decision, events: n) : nil
            default: return nil
            }
        }
        return (snapshot, from, counts)
    }

    /// Folds up to `limit` committed rows after the cursor. Returns how many, or nil when another
    /// collector is folding right now.
    public static func step(_ connection: PGConnection, limit: Int = 20_000) throws(PGError) -> Int? {
        try connection.exec("BEGIN")
        do {
            guard
                let state = try connection.exec(
                    "SELECT cursor_txid::text, cursor_chain_seq FROM governance_rollup_state WHERE id = 1 FOR UPDATE SKIP LOCKED"
                ).rows.first,
                let txid = state[0], let chainSeq = state[1]
            else {
                try connection.exec("ROLLBACK")
                return nil
            }
            let folds = widths.map { width in
                """
                SELECT \(width.seconds) AS width, \(dimensions(unit: width.unit)), count(*) AS events FROM new GROUP BY 2, 3, 4, 5, 6, 7
                """
            }.joined(separator: " UNION ALL ")
            let result = try connection.exec(
                """
                WITH new AS MATERIALIZED (
                    SELECT governance_txid, chain_seq, created_at, workflow, agent_id, kind, decision, metadata_json
                    FROM governance_audit_events e
                    WHERE governance_txid < pg_snapshot_xmin(pg_current_snapshot())
                      AND (governance_txid, chain_seq) > ($1::xid8, $2::int8)
                    ORDER BY e.governance_txid, e.chain_seq LIMIT \(limit)
                ), folded AS (
                    INSERT INTO governance_event_rollup AS r (width, bucket, workflow, agent_id, kind, decision, tool, events)
                    \(folds)
                    ON CONFLICT (width, bucket, workflow, agent_id, kind, decision, tool) DO UPDATE SET events = r.events + EXCLUDED.events
                ), last AS (
                    SELECT governance_txid, chain_seq FROM new ORDER BY governance_txid DESC, chain_seq DESC LIMIT 1
                )
                UPDATE governance_rollup_state SET cursor_txid = last.governance_txid, cursor_chain_seq = last.chain_seq, updated_at = now()
                FROM last WHERE id = 1
                RETURNING (SELECT count(*) FROM new)
                """, [txid, chainSeq])
            try connection.exec("COMMIT")
            return Int(result.rows.first?.first.flatMap { $0 } ?? "0") ?? 0
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }
}
