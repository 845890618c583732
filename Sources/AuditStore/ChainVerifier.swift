import Crypto
public import Foundation
public import Pipeline

/// Re-checks the audit table: every row's HMAC recomputed (including `model`, which the SDK's
/// own verifier leaves out), `prev_hash` linkage per session (finds deleted, inserted and
/// swapped rows), forks, and gaps or repeats in the per-workflow `seq`. Rows are streamed
/// through a cursor, so millions of rows need little memory.
///
/// Read-only on any table: on one the SDK created (no collector columns) it checks what the
/// table has. Across chain key rotations (reference-sdk.md §11) each row is checked with the key
/// version covering its `chain_seq`, and a rotation marker's `hmac_next` with the incoming key;
/// a marker links to the table's previous row, not to its session's.
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
        /// Key versions in `governance_audit_chain_keys` (0: one key, no rotation registry).
        public var keyVersions = 0
        /// Rotation markers whose two MACs verified.
        public var rotations = 0
        /// What retention removed before the rows checked (nil: nothing), and the sessions whose
        /// first remaining row links to the last row a seal recorded.
        public var retention: RetentionRecord.Summary?
        public var continuedAfterRetention = 0
        /// Seals that do not match their records or their seal events (`RetentionRecord.sealProblems`).
        public var sealProblems: [String] = []
        public var isClean: Bool { problems.isEmpty && sealProblems.isEmpty }
    }

    public static let rotationKind = "audit.chain_key_rotation"

    let connection: PGConnection
    let keyring: ChainKeyring

    public init(connection: PGConnection, secret: String) {
        self.init(connection: connection, secrets: [Array(secret.utf8)])
    }

    /// `secrets` as bytes, found by fingerprint; the first serves a table without key versions.
    public init(connection: PGConnection, secrets: [[UInt8]]) {
        self.connection = connection
        keyring = ChainKeyring(secrets: secrets)
    }

    public func verify(_ filter: Filter = .init(), batchSize: Int = 5000) throws -> Report {
        var report = Report()
        let columns = try AuditSchema.columns(connection)
        let hasSeq = columns.contains("workflow") && columns.contains("seq")
        if filter.workflow != nil, !hasSeq {
            throw PGError(
                message: "this table has no workflow column (the SDK created it and no collector migrated it): drop --workflow", sqlState: nil,
                connectionLost: false)
        }
        var keyring = keyring
        try keyring.load(from: connection)
        report.keyVersions = keyring.versions.count
        let retention = RetentionRecord(connection: connection)
        let (conditions, params) = filter.conditions()
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        // A time window starts mid-chain: its first row's link cannot be checked.
        let checkFirstLink = filter.since == nil

        try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? connection.exec("COMMIT") }
        // In the snapshot the rows are read in: a retention pass committing meanwhile is in both or neither.
        report.retention = try retention.summary()
        if report.retention != nil, filter.session == nil { report.sealProblems = try retention.sealProblems() }
        try connection.exec(
            """
            DECLARE gc_verify NO SCROLL CURSOR FOR
            SELECT chain_seq, \(AuditRow.selectColumns(in: columns)), \(columns.contains("hmac_next") ? "hmac_next" : "NULL")
            FROM governance_audit_events \(whereClause) ORDER BY session_id, chain_seq
            """, params)
        var session: String?
        var previousHMAC: String?
        var seenHMACs = Set<String>()
        var sessionFailed = false
        func fail(_ scope: String, _ chainSeq: Int64, _ eventID: String, _ reason: String) {
            guard !sessionFailed else { return }
            sessionFailed = true
            report.problems.append(Problem(scope: scope, chainSeq: chainSeq, eventID: eventID, reason: reason))
        }
        while true {
            let rows = try connection.exec("FETCH \(batchSize) FROM gc_verify").rows
            if rows.isEmpty { break }
            for row in rows {
                report.rows += 1
                let chainSeq = Int64(row[0] ?? "") ?? 0
                let eventID = row[1] ?? "?"
                let scope = "session \(row[2] ?? "?")"
                let hmacNext = row[Self.hmacNextColumn]
                let isMarker = row[5] == Self.rotationKind && hmacNext != nil
                if row[2] != session {
                    session = row[2]
                    previousHMAC = nil
                    seenHMACs = []
                    sessionFailed = false
                    report.sessions += 1
                }
                if isMarker {
                    // The SDK links a marker to the table's last row at rotation time, whichever session it is in.
                    // Its predecessor may be a row retention removed: then the seal recorded it as its session's head.
                    if let prev = row[10], try !hmacExists(prev, before: chainSeq), try report.retention == nil || !retention.isHead(prev) {
                        fail(scope, chainSeq, eventID, "rotation marker's prev_hash matches no earlier row")
                    }
                } else if seenHMACs.isEmpty {
                    if checkFirstLink, let prev = row[10], !prev.isEmpty {
                        if report.retention != nil, try retention.head(of: row[2] ?? "") == prev {
                            report.continuedAfterRetention += 1
                        } else {
                            fail(
                                scope, chainSeq, eventID,
                                "first row has prev_hash \(prev.prefix(12))…, but no earlier row\(report.retention == nil ? "" : " and no retention seal recorded it"): rows before it were deleted"
                            )
                        }
                    }
                } else if row[10] != previousHMAC {
                    let reason =
                        row[10].map { seenHMACs.contains($0) } == true
                        ? "fork: prev_hash points at an earlier row, not the one before it"
                        : "broken link: prev_hash does not match the previous row's hmac (a row was deleted, inserted or moved)"
                    fail(scope, chainSeq, eventID, reason)
                }
                if !sessionFailed {
                    let event: AuditEvent
                    do {
                        event = try Self.event(from: row)
                    } catch {
                        fail(scope, chainSeq, eventID, "\(error.column) cannot be read back (\(error.reason)), so the row's HMAC cannot be checked")
                        previousHMAC = row[11]
                        continue
                    }
                    switch keyring.key(at: chainSeq) {
                    case .failure(let problem):
                        fail(scope, chainSeq, eventID, "cannot verify: \(problem)")
                    case .success(let key) where AuditChain.hmac(event, key: key) != row[11]:
                        fail(scope, chainSeq, eventID, "hmac mismatch: the row's content was changed")
                    case .success where isMarker:
                        if let problem = Self.checkNextMAC(event, hmacNext: hmacNext, chainSeq: chainSeq, keyring) {
                            fail(scope, chainSeq, eventID, problem)
                        } else {
                            report.rotations += 1
                        }
                    case .success:
                        break
                    }
                }
                previousHMAC = row[11]
                if let h = row[11] { seenHMACs.insert(h) }
            }
        }
        // Seq runs per workflow in commit order: only a filter that keeps whole workflows
        // (none, or --workflow) can show a gap; a session's or a time window's rows skip numbers.
        if hasSeq, filter.session == nil, filter.since == nil, filter.until == nil {
            try checkSeq(whereClause: whereClause, params: params, filtered: !conditions.isEmpty, removed: retention.removedSeq(), into: &report)
        }
        return report
    }

    /// A marker's second MAC, over the same payload, must verify under the incoming key: the
    /// version covering the next chain_seq, which must differ from the outgoing one.
    static func checkNextMAC(_ event: AuditEvent, hmacNext: String?, chainSeq: Int64, _ keyring: ChainKeyring) -> String? {
        guard let outgoing = keyring.version(at: chainSeq), let incoming = keyring.version(at: chainSeq + 1), incoming != outgoing else {
            return "rotation marker, but governance_audit_chain_keys has no new key version from chain_seq \(chainSeq + 1)"
        }
        guard let key = keyring.key(for: incoming.fingerprint) else {
            return
                "cannot verify the rotation marker's hmac_next: no secret given for key version \(incoming.number) (fingerprint \(incoming.fingerprint.prefix(16))…)"
        }
        return AuditChain.hmac(event, key: key) == hmacNext
            ? nil : "rotation marker's hmac_next does not verify under the incoming key (version \(incoming.number))"
    }

    private func hmacExists(_ hmac: String, before chainSeq: Int64) throws(PGError) -> Bool {
        try connection.exec("SELECT 1 FROM governance_audit_events WHERE hmac_value = $1 AND chain_seq < $2 LIMIT 1", [hmac, String(chainSeq)]).rows
            .count == 1
    }

    /// Per workflow, collector-assigned seq must run 1, 2, 3, … with no gap or repeat; after
    /// retention, from the seq after the last one a seal recorded (`removed`: RetentionRecord.removedSeq).
    private func checkSeq(whereClause: String, params: [String?], filtered: Bool, removed: String, into report: inout Report) throws {
        let seqCondition = whereClause.isEmpty ? "WHERE seq IS NOT NULL" : whereClause + " AND seq IS NOT NULL"
        let rows = try connection.exec(
            """
            SELECT s.workflow, seq, coalesce(previous, r.last_seq), chain_seq, event_id FROM (
                SELECT workflow, seq, chain_seq, event_id, lag(seq) OVER (PARTITION BY workflow ORDER BY seq) AS previous
                FROM governance_audit_events \(seqCondition)) s LEFT JOIN \(removed) r ON r.workflow = s.workflow
            WHERE (previous IS NULL AND seq <> coalesce(r.last_seq, 0) + 1 AND \(!filtered)) OR (previous IS NOT NULL AND seq <> previous + 1)
            ORDER BY s.workflow, seq
            """, params
        ).rows
        var reported = Set<String>()
        for row in rows where reported.insert(row[0] ?? "").inserted {
            let seq = row[1] ?? "?"
            let reason = row[2] == nil ? "seq starts at \(seq), not 1" : (row[2] == seq ? "seq \(seq) repeated" : "seq gap: \(row[2]!) then \(seq)")
            report.problems.append(
                Problem(scope: "workflow \(row[0] ?? "?")", chainSeq: Int64(row[3] ?? "") ?? 0, eventID: row[4] ?? "?", reason: reason))
        }
    }

    /// The verifier's select list is `chain_seq`, `AuditRow.selectColumns` (so `event_id` is
    /// column 1, `kind` 5, `prev_hash` 10, `hmac_value` 11), then `hmac_next`.
    static let hmacNextColumn = 1 + AuditRow.selectedCount

    /// The event of a row of the verifier's select list, metadata read as Python reads it (what
    /// the HMAC covers); a row that cannot be read back is a failure the caller reports.
    static func event(from row: [String?]) throws(UndecodableRow) -> AuditEvent {
        var event = try AuditRow.decode(row[1...AuditRow.selectedCount])
        event.metadata = event.metadata.pythonNormalized()
        return event
    }
}

extension ChainVerifier {
    /// The rows a follower just read (commit order), each checked as `verify` checks it: its
    /// HMAC under the key covering its `chain_seq`, and its `prev_hash` against the row before
    /// it in its session, found by index in one statement. Costs O(rows), for a verifier that
    /// keeps up with the table. A rotation marker's links are `verify`'s to check (they span
    /// sessions); here its outgoing MAC is checked. A row under a key version whose secret was
    /// not given (one retired before this collector's) is counted as `unchecked`, not failed.
    public func checkNew(_ rows: [AuditTableFollower.Row]) throws(PGError) -> (problems: [Problem], unchecked: Int) {
        guard !rows.isEmpty else { return ([], 0) }
        var keyring = keyring
        try keyring.load(from: connection)
        let retention = RetentionRecord(connection: connection)
        let hasSeals = try retention.exists()
        let previous = try connection.exec(
            """
            SELECT (SELECT p.hmac_value FROM governance_audit_events p WHERE p.session_id = t.s AND p.chain_seq < t.c
                    ORDER BY p.chain_seq DESC LIMIT 1)
            FROM unnest($1::uuid[], $2::int8[]) WITH ORDINALITY AS t(s, c, i) ORDER BY t.i
            """, [PGArray.text(rows.map { $0.columns[1] ?? "" }), PGArray.text(rows.map { String($0.cursor.chainSeq) })]
        ).rows.map { $0[0] }
        var problems: [Problem] = []
        var unchecked = 0
        for (row, before) in zip(rows, previous) {
            let chainSeq = row.cursor.chainSeq
            let eventID = row.columns[0] ?? "?"
            let scope = "session \(row.columns[1] ?? "?")"
            func fail(_ reason: String) { problems.append(Problem(scope: scope, chainSeq: chainSeq, eventID: eventID, reason: reason)) }
            var event: AuditEvent
            switch row.decoded {
            case .failure(let error):
                fail("\(error.column) cannot be read back (\(error.reason)), so the row's HMAC cannot be checked")
                continue
            case .success(let decoded): event = decoded
            }
            event.metadata = event.metadata.pythonNormalized()
            let prev = event.prevHash ?? ""
            if event.kind != Self.rotationKind, prev != (before ?? "") {
                var headAfterRetention = false
                if before == nil, hasSeals { headAfterRetention = try retention.head(of: row.columns[1] ?? "") == prev }
                if !headAfterRetention {
                    fail(
                        before == nil
                            ? "first row has prev_hash \(prev.prefix(12))…, but no earlier row: rows before it were deleted"
                            : "broken link: prev_hash does not match the previous row's hmac (a row was deleted, inserted or moved)")
                    continue
                }
            }
            switch keyring.key(at: chainSeq) {
            case .failure: unchecked += 1
            case .success(let key) where AuditChain.hmac(event, key: key) != event.hmac: fail("hmac mismatch: the row's content was changed")
            case .success: break
            }
        }
        return (problems, unchecked)
    }
}
