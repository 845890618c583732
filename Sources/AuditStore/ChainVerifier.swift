import Crypto
public import Foundation
public import Pipeline

/// Re-checks the audit table: every row's HMAC recomputed (including `model`, which the SDK's
/// own verifier leaves out), `prev_hash` linkage per session (finds deleted, inserted and
/// swapped rows), forks, and gaps or repeats in the per-workflow `seq`. Rows are streamed
/// through a cursor, so millions of rows need little memory.
public struct ChainVerifier {
    public struct Filter: Sendable {
        public var session: UUID?
        public var workflow: String?
        public var since: Timestamp?
        public var until: Timestamp?
        public init(session: UUID? = nil, workflow: String? = nil, since: Timestamp? = nil, until: Timestamp? = nil) {
            self.session = session
            self.workflow = workflow
            self.since = since
            self.until = until
        }

        /// SQL conditions on `governance_audit_events` and their parameters (`$1`, `$2`, …).
        public func conditions() -> (conditions: [String], params: [String?]) {
            var conditions: [String] = []
            var params: [String?] = []
            if let s = session { params.append(s.lowercasedString); conditions.append("session_id = $\(params.count)::uuid") }
            if let w = workflow { params.append(w); conditions.append("workflow = $\(params.count)") }
            if let t = since { params.append(t.pythonISOFormat); conditions.append("created_at >= $\(params.count)::timestamptz") }
            if let t = until { params.append(t.pythonISOFormat); conditions.append("created_at < $\(params.count)::timestamptz") }
            return (conditions, params)
        }
    }

    /// The first bad row of one chain (or one workflow's seq).
    public struct Problem: Sendable, CustomStringConvertible {
        public var scope: String
        public var chainSeq: Int64
        public var eventID: String
        public var reason: String
        public var description: String { "\(scope): first bad row chain_seq=\(chainSeq) event_id=\(eventID): \(reason)" }
    }

    public struct Report: Sendable {
        public var rows = 0
        public var sessions = 0
        public var problems: [Problem] = []
        public var isClean: Bool { problems.isEmpty }
    }

    let connection: PGConnection
    let key: SymmetricKey

    public init(connection: PGConnection, secret: String) {
        self.connection = connection
        key = SymmetricKey(data: Data(secret.utf8))
    }

    public func verify(_ filter: Filter = .init(), batchSize: Int = 5000) throws -> Report {
        var report = Report()
        let (conditions, params) = filter.conditions()
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        // A time window starts mid-chain: its first row's link cannot be checked.
        let checkFirstLink = filter.since == nil

        try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? connection.exec("COMMIT") }
        try connection.exec("""
            DECLARE gc_verify NO SCROLL CURSOR FOR
            SELECT chain_seq, event_id, session_id, agent_id, parent_event_id, kind, model, input_hash, output_hash,
                   metadata_json::text, prev_hash, hmac_value, (extract(epoch FROM created_at) * 1000000)::int8
            FROM governance_audit_events \(whereClause) ORDER BY session_id, chain_seq
            """, params)
        var session: String?
        var previousHMAC: String?
        var seenHMACs = Set<String>()
        var sessionFailed = false
        while true {
            let rows = try connection.exec("FETCH \(batchSize) FROM gc_verify").rows
            if rows.isEmpty { break }
            for row in rows {
                report.rows += 1
                let chainSeq = Int64(row[0] ?? "") ?? 0
                let eventID = row[1] ?? "?"
                if row[2] != session {
                    session = row[2]
                    previousHMAC = nil
                    seenHMACs = []
                    sessionFailed = false
                    report.sessions += 1
                    if checkFirstLink, let prev = row[10], !prev.isEmpty {
                        fail("session \(row[2] ?? "?")", chainSeq, eventID, "first row has prev_hash \(prev.prefix(12))…, but no earlier row: rows before it were deleted")
                    }
                } else if row[10] != previousHMAC {
                    let reason = row[10].map { seenHMACs.contains($0) } == true
                        ? "fork: prev_hash points at an earlier row, not the one before it"
                        : "broken link: prev_hash does not match the previous row's hmac (a row was deleted, inserted or moved)"
                    fail("session \(row[2] ?? "?")", chainSeq, eventID, reason)
                }
                if !sessionFailed, let event = Self.event(from: row), AuditChain.hmac(event, key: key) != row[11] {
                    fail("session \(row[2] ?? "?")", chainSeq, eventID, "hmac mismatch: the row's content was changed")
                }
                previousHMAC = row[11]
                if let h = row[11] { seenHMACs.insert(h) }
            }
        }
        func fail(_ scope: String, _ chainSeq: Int64, _ eventID: String, _ reason: String) {
            guard !sessionFailed else { return }
            sessionFailed = true
            report.problems.append(Problem(scope: scope, chainSeq: chainSeq, eventID: eventID, reason: reason))
        }
        try checkSeq(whereClause: whereClause, params: params, filtered: !conditions.isEmpty, into: &report)
        return report
    }

    /// Per workflow, collector-assigned seq must run 1, 2, 3, … with no gap or repeat.
    private func checkSeq(whereClause: String, params: [String?], filtered: Bool, into report: inout Report) throws {
        let seqCondition = whereClause.isEmpty ? "WHERE seq IS NOT NULL" : whereClause + " AND seq IS NOT NULL"
        let rows = try connection.exec("""
            SELECT workflow, seq, previous, chain_seq, event_id FROM (
                SELECT workflow, seq, chain_seq, event_id, lag(seq) OVER (PARTITION BY workflow ORDER BY seq) AS previous
                FROM governance_audit_events \(seqCondition)) s
            WHERE (previous IS NULL AND seq <> 1 AND \(!filtered)) OR (previous IS NOT NULL AND seq <> previous + 1)
            ORDER BY workflow, seq
            """, params).rows
        var reported = Set<String>()
        for row in rows where reported.insert(row[0] ?? "").inserted {
            let seq = row[1] ?? "?"
            let reason = row[2] == nil ? "seq starts at \(seq), not 1" : (row[2] == seq ? "seq \(seq) repeated" : "seq gap: \(row[2]!) then \(seq)")
            report.problems.append(Problem(scope: "workflow \(row[0] ?? "?")", chainSeq: Int64(row[3] ?? "") ?? 0, eventID: row[4] ?? "?", reason: reason))
        }
    }

    static func event(from row: [String?]) -> AuditEvent? {
        guard let eventID = row[1].flatMap(UUID.init(text:)), let sessionID = row[2].flatMap(UUID.init(text:)),
              let metadataText = row[9], let metadata = try? JSONParser.parse(metadataText, maxDepth: 1000),
              let micros = row[12].flatMap(Int64.init) else { return nil }
        return AuditEvent(eventID: eventID, sessionID: sessionID, agentID: row[3] ?? "", kind: row[5] ?? "",
                          parentEventID: row[4].flatMap(UUID.init(text:)), model: row[6], inputHash: row[7], outputHash: row[8],
                          metadata: metadata.pythonNormalized(), prevHash: row[10], hmac: row[11],
                          createdAt: Timestamp(microseconds: micros), workflow: "")
    }
}
