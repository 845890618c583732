import Config
import Foundation
public import Pipeline

/// Spans that wait for the rest of their trace, and what is kept of each trace once it became
/// audit rows. A receiver answers an export only after its spans are committed here, so an
/// acknowledged span survives a crash; the trace assembler (one per database, holding
/// `assemblerLockKey`) turns a trace into rows when it is complete and deletes its staged spans.
/// The span itself is opaque here (the receiver's encoding); this type owns only the tables.
public enum StagedSpans {
    public static let schema = SchemaSteps(
        owner: "span_staging",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_staged_spans (
                id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                pipeline      TEXT        NOT NULL,
                workflow      TEXT        NOT NULL,
                trace_id      BYTEA       NOT NULL,
                span_id       BYTEA       NOT NULL,
                is_root       BOOLEAN     NOT NULL,
                keep_unmarked BOOLEAN     NOT NULL,
                wait_ms       INTEGER     NOT NULL,
                max_wait_ms   INTEGER     NOT NULL,
                received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
                span          BYTEA       NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS governance_staged_spans_trace ON governance_staged_spans (pipeline, workflow, trace_id)",
            """
            CREATE TABLE IF NOT EXISTS governance_trace_runs (
                pipeline     TEXT        NOT NULL,
                workflow     TEXT        NOT NULL,
                trace_id     BYTEA       NOT NULL,
                assembled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                context      JSONB       NOT NULL,
                PRIMARY KEY (pipeline, workflow, trace_id)
            )
            """,
            "CREATE INDEX IF NOT EXISTS governance_trace_runs_age ON governance_trace_runs (assembled_at)",
        ])

    /// The session advisory lock the one assembler per database holds.
    static let assemblerLockKey: Int64 = 0x6763_7472_6163_6573  // "gctraces"

    /// How long a trace's context is kept for spans that arrive after it became rows.
    public static let contextKeepSeconds = 86_400

    /// One span to stage.
    public struct Row: Sendable {
        public var traceID: [UInt8]
        public var spanID: [UInt8]
        public var isRoot: Bool
        public var span: [UInt8]
        public init(traceID: [UInt8], spanID: [UInt8], isRoot: Bool, span: [UInt8]) {
            self.traceID = traceID
            self.spanID = spanID
            self.isRoot = isRoot
            self.span = span
        }
    }

    /// Stages `rows` of one export in one `COPY` (one transaction). A retried export stages its
    /// spans again; the assembler takes each span once.
    public static func stage(
        _ rows: [Row], pipeline: String, workflow: String, keepUnmarked: Bool, waitMilliseconds: Int, maxWaitMilliseconds: Int,
        on connection: PGConnection
    ) throws(PGError) {
        var w = BinaryCopyWriter(capacity: rows.reduce(64) { $0 + $1.span.count + 96 })
        for row in rows {
            w.beginRow(fields: 9)
            w.text(pipeline)
            w.text(workflow)
            w.bytea(row.traceID)
            w.bytea(row.spanID)
            w.bool(row.isRoot)
            w.bool(keepUnmarked)
            w.int32(Int32(clamping: waitMilliseconds))
            w.int32(Int32(clamping: maxWaitMilliseconds))
            w.bytea(row.span)
        }
        try connection.copyIn(
            """
            COPY governance_staged_spans (pipeline, workflow, trace_id, span_id, is_root, keep_unmarked, wait_ms, max_wait_ms, span) FROM STDIN (FORMAT binary)
            """, data: w.finish())
    }

    /// A trace as the staging table groups it.
    public struct TraceKey: Hashable, Sendable {
        public var pipeline: String
        public var workflow: String
        public var traceID: [UInt8]
    }

    /// What the assembler reads for one trace: its staged spans and its earlier context.
    public struct Staged: Sendable {
        public var ids: [Int64]
        public var spans: [(keepUnmarked: Bool, span: [UInt8])]
        /// The context kept when the trace became rows before (JSON text), or nil.
        public var context: String?
    }

    /// The session holds the assembler lock (taken here when free).
    public static func holdsAssemblerLock(_ connection: PGConnection) throws(PGError) -> Bool {
        try connection.holdsSessionLock(assemblerLockKey)
    }

    /// Traces of `pipelines` ready to become rows, oldest first: quiet for their wait since the
    /// last span and either their root has arrived or they became rows before; or waiting
    /// longer than their maximum wait. Times are the database's, so collectors agree.
    public static func ready(pipelines: [String], limit: Int, on connection: PGConnection) throws(PGError) -> [TraceKey] {
        try connection.exec(
            """
            SELECT s.pipeline, s.workflow, encode(s.trace_id, 'hex') FROM governance_staged_spans s
            WHERE s.pipeline = ANY($1::text[])
            GROUP BY s.pipeline, s.workflow, s.trace_id
            HAVING min(s.received_at + s.max_wait_ms * interval '1 millisecond') <= now()
                OR (max(s.received_at + s.wait_ms * interval '1 millisecond') <= now()
                    AND (bool_or(s.is_root) OR EXISTS (SELECT 1 FROM governance_trace_runs r
                                                       WHERE r.pipeline = s.pipeline AND r.workflow = s.workflow AND r.trace_id = s.trace_id)))
            ORDER BY min(s.id) LIMIT \(limit)
            """, [PGArray.text(pipelines)]
        ).rows.compactMap { row in
            guard let pipeline = row[0], let workflow = row[1], let trace = row[2].flatMap(Hex.bytes) else { return nil }
            return TraceKey(pipeline: pipeline, workflow: workflow, traceID: trace)
        }
    }

    /// The traces' staged spans, in arrival order, and their contexts, in two queries.
    public static func load(_ keys: [TraceKey], on connection: PGConnection) throws(PGError) -> [TraceKey: Staged] {
        let params = [
            PGArray.text(keys.map(\.pipeline)), PGArray.text(keys.map(\.workflow)), PGArray.text(keys.map { "\\x" + $0.traceID.hexString }),
        ]
        let rows = try connection.exec(
            """
            SELECT s.pipeline, s.workflow, encode(s.trace_id, 'hex'), s.id, s.keep_unmarked, encode(s.span, 'hex')
            FROM governance_staged_spans s JOIN unnest($1::text[], $2::text[], $3::bytea[]) AS k(pipeline, workflow, trace_id)
                 ON s.pipeline = k.pipeline AND s.workflow = k.workflow AND s.trace_id = k.trace_id
            ORDER BY s.id
            """, params
        ).rows
        var staged: [TraceKey: Staged] = [:]
        for row in rows {
            guard let pipeline = row[0], let workflow = row[1], let trace = row[2].flatMap(Hex.bytes), let id = row[3].flatMap({ Int64($0) }),
                let span = row[5].flatMap(Hex.bytes)
            else {
                throw PGError(message: "governance_staged_spans has an unreadable row (id \(row[3] ?? "null"))", sqlState: nil, connectionLost: false)
            }
            let key = TraceKey(pipeline: pipeline, workflow: workflow, traceID: trace)
            staged[key, default: Staged(ids: [], spans: [], context: nil)].ids.append(id)
            staged[key]!.spans.append((row[4] == "t", span))
        }
        for row in try connection.exec(
            """
            SELECT r.pipeline, r.workflow, encode(r.trace_id, 'hex'), r.context::text
            FROM governance_trace_runs r JOIN unnest($1::text[], $2::text[], $3::bytea[]) AS k(pipeline, workflow, trace_id)
                 ON r.pipeline = k.pipeline AND r.workflow = k.workflow AND r.trace_id = k.trace_id
            """, params
        ).rows {
            guard let pipeline = row[0], let workflow = row[1], let trace = row[2].flatMap(Hex.bytes) else { continue }
            staged[TraceKey(pipeline: pipeline, workflow: workflow, traceID: trace)]?.context = row[3]
        }
        return staged
    }

    /// A trace made into rows: its staged spans to delete and the context to keep.
    public struct Finished: Sendable {
        public var key: TraceKey
        public var ids: [Int64]
        public var context: String
        public init(key: TraceKey, ids: [Int64], context: String) {
            self.key = key
            self.ids = ids
            self.context = context
        }
    }

    /// After the traces' rows are committed: in one transaction, their staged spans are deleted
    /// and their contexts kept. A crash before this commit leaves them staged; the next assembly
    /// makes the same rows (same ids: duplicates) and gets here.
    public static func finish(_ traces: [Finished], on connection: PGConnection) throws(PGError) {
        guard !traces.isEmpty else { return }
        try connection.transaction { () throws(PGError) in
            try connection.exec(
                "DELETE FROM governance_staged_spans WHERE id = ANY($1::int8[])", [GroupCommit.pgArray(traces.flatMap(\.ids).map(String.init))])
            try connection.exec(
                """
                INSERT INTO governance_trace_runs (pipeline, workflow, trace_id, context)
                SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[])
                ON CONFLICT (pipeline, workflow, trace_id) DO UPDATE SET context = EXCLUDED.context, assembled_at = now()
                """,
                [
                    PGArray.text(traces.map(\.key.pipeline)), PGArray.text(traces.map(\.key.workflow)),
                    PGArray.text(traces.map { "\\x" + $0.key.traceID.hexString }), PGArray.text(traces.map(\.context)),
                ])
        }
    }

    /// Forgets the contexts of traces assembled more than `contextKeepSeconds` ago.
    public static func expireContexts(on connection: PGConnection) throws(PGError) {
        try connection.exec("DELETE FROM governance_trace_runs WHERE assembled_at < now() - interval '\(contextKeepSeconds) seconds'")
    }
}

/// PostgreSQL array literals for parameters.
enum PGArray {
    /// A `text[]` literal, each item quoted.
    static func text(_ items: [String]) -> String {
        "{"
            + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(
                separator: ",") + "}"
    }
}
