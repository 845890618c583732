import Foundation
public import Pipeline

/// One group-commit transaction, and what to do when it fails.
public enum GroupCommit {
    /// Commits `events` and says per event whether it was stored or already present. Throws only
    /// when the connection failed; a row the database refuses is isolated by bisection (its
    /// neighbours are committed without it) and reported as rejected.
    public static func commit(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        // The first occurrence of an event_id in the group wins; later copies are duplicates.
        var seen = Set<UUID>()
        var unique: [AuditEvent] = []
        var uniquePosition: [Int?] = []
        for event in events {
            if seen.insert(event.eventID).inserted {
                uniquePosition.append(unique.count)
                unique.append(event)
            } else {
                uniquePosition.append(nil)
            }
        }
        let uniqueResults = try commitIsolatingBadRows(unique, stages: stages, on: connection)
        return uniquePosition.map { $0.map { uniqueResults[$0] } ?? .duplicate }
    }

    private static func commitIsolatingBadRows(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        guard !events.isEmpty else { return [] }
        do {
            return try transaction(events, stages: stages, on: connection)
        } catch where error.isDataError && !error.connectionLost {
            if events.count == 1 {
                return [.rejected(EventRejection(field: "event", message: "refused by PostgreSQL: \(error.message)"))]
            }
            let middle = events.count / 2
            return try commitIsolatingBadRows(Array(events[..<middle]), stages: stages, on: connection)
                + commitIsolatingBadRows(Array(events[middle...]), stages: stages, on: connection)
        }
    }

    /// BEGIN, the SDK's advisory lock on each of the group's sessions and the stages' declared
    /// reads, in one round trip; run the stages; binary COPY the events straight into the table
    /// in arrival order; COMMIT (without stages, a first attempt is the COPY alone).
    /// The first attempt is optimistic and copies everything. If an event_id is already stored,
    /// the COPY fails with a unique violation and the transaction is rolled back (taking its
    /// seq numbers with it). It is then redone, after one index lookup sets aside the stored
    /// event_ids, so nothing is stored twice and no seq is skipped. Deadlocks and serialization
    /// failures are retried the same way.
    private static func transaction(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        var attempt = 0
        while true {
            do throws(PGError) {
                // Round trips are most of a small group's cost. Without stages a first attempt
                // is one COPY outside a transaction block, atomic by itself (two round trips in
                // all); with stages BEGIN travels with the advisory locks and the reads.
                let autocommit = stages.isEmpty && attempt == 0
                let transaction = PGCommitTransaction(connection: connection)
                if !stages.isEmpty {
                    // On a first attempt the stages' declared reads travel with the locks; a
                    // retry first sets aside stored events, so its stages read when they ask.
                    let keys = Set(events.map(\.sessionID.advisoryLockKey)).sorted()
                    try transaction.begin(locking: keys, reading: attempt == 0 ? stages.flatMap { $0.reads(for: events) } : [])
                } else if !autocommit {
                    try connection.exec("BEGIN")
                }
                var fresh = events
                if attempt > 0 {
                    let rows = try connection.execPrepared("gc_existing", [pgArray(events.map(\.eventID.lowercasedString))])
                    let existing = Set(rows.rows.compactMap { $0[0].flatMap(UUID.init(text:)) })
                    fresh = events.filter { !existing.contains($0.eventID) }
                }
                try applyStages(stages, to: &fresh, in: transaction)
                if !fresh.isEmpty {
                    try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(fresh))
                }
                if !autocommit { try connection.exec("COMMIT") }
                let stored = Dictionary(fresh.map { ($0.eventID, $0) }, uniquingKeysWith: { a, _ in a })
                return events.map { stored[$0.eventID].map(CommitResult.stored) ?? .duplicate }
            } catch {
                if !error.connectionLost, !(stages.isEmpty && attempt == 0) { _ = try? connection.exec("ROLLBACK") }
                attempt += 1
                if error.isRetryable || error.sqlState == "23505", attempt < 5 { continue }
                throw error
            }
        }
    }

    private static func applyStages(_ stages: [any CommitStage], to events: inout [AuditEvent], in transaction: PGCommitTransaction) throws(PGError) {
        guard !stages.isEmpty else { return }
        do {
            for stage in stages { try stage.apply(&events, in: transaction) }
        } catch let error as PGError {
            throw error
        } catch {
            throw PGError(message: "commit stage failed: \(error)", sqlState: nil, connectionLost: false)
        }
    }

    static func pgArray(_ items: [String]) -> String { "{" + items.joined(separator: ",") + "}" }
}

/// The commit stages' view of the open transaction. `begin` sends BEGIN, the session locks and
/// the stages' declared reads in one round trip; `reserveSeq` and `chainHeads` then answer from
/// what came back and ask PostgreSQL only for what was not declared.
final class PGCommitTransaction: CommitTransaction {
    let connection: PGConnection
    /// Seq numbers reserved with the locks: first number and count, per workflow.
    private var reserved: [String: (first: Int64, count: Int)] = [:]
    /// Chain heads read so far, and the sessions they were read for (a session without a head
    /// is read too: it has no row yet).
    private var heads: [UUID: String] = [:]
    private var headsRead = Set<UUID>()

    init(connection: PGConnection) {
        self.connection = connection
    }

    /// BEGIN; the SDK's advisory lock on each key; then one seq reservation per declared workflow
    /// (sorted, so two writers never lock counters in opposite orders) and one chain-head query
    /// for every declared session. Keys are integers and workflows are escaped, so all of it can
    /// be written into one multi-statement string.
    func begin(locking keys: [Int64], reading reads: [CommitRead]) throws(PGError) {
        var counts: [String: Int] = [:]
        var sessions = Set<UUID>()
        for read in reads {
            switch read {
            case .seq(let workflow, let count): if count > 0 { counts[workflow] = count }
            case .chainHeads(let ids): sessions.formUnion(ids)
            }
        }
        let seqCounts = counts.sorted { $0.key < $1.key }
        var sql = "BEGIN; SELECT pg_advisory_xact_lock(k) FROM unnest('\(GroupCommit.pgArray(keys.map(String.init)))'::int8[]) AS k"
        for (workflow, count) in seqCounts {
            sql += "; " + Self.reserveStatement(workflow: connection.escapeLiteral(workflow), count: String(count))
        }
        if !sessions.isEmpty {
            sql += "; " + Self.headsStatement(sessions: "'\(GroupCommit.pgArray(sessions.map(\.lowercasedString)))'")
        }
        let results = try connection.execEach(sql).dropFirst(2)
        guard results.count == seqCounts.count + (sessions.isEmpty ? 0 : 1) else {
            throw PGError(message: "BEGIN with the declared reads returned \(results.count) results", sqlState: nil, connectionLost: false)
        }
        for ((workflow, count), rows) in zip(seqCounts, results) {
            reserved[workflow] = (try Self.firstReserved(rows, count: count), count)
        }
        if let rows = results.last, !sessions.isEmpty {
            heads = Self.heads(rows)
            headsRead = sessions
        }
    }

    func chainHeads(_ sessions: [UUID]) throws -> [UUID: String] {
        let missing = sessions.filter { !headsRead.contains($0) }
        if !missing.isEmpty {
            let rows = try connection.exec(Self.headsStatement(sessions: "$1"), [GroupCommit.pgArray(missing.map(\.lowercasedString))])
            heads.merge(Self.heads(rows)) { a, _ in a }
            headsRead.formUnion(missing)
        }
        let wanted = Set(sessions)
        return heads.filter { wanted.contains($0.key) }
    }

    func query(_ sql: String, _ parameters: [String?]) throws -> [[String?]] {
        try connection.exec(sql, parameters).rows
    }

    func reserveSeq(workflow: String, count: Int) throws -> Int64 {
        guard let ahead = reserved.removeValue(forKey: workflow) else {
            return try Self.firstReserved(connection.exec(Self.reserveStatement(workflow: "$1", count: "$2"), [workflow, String(count)]), count: count)
        }
        // A stage added events (budget alerts) or fewer arrived: the counter row is locked by
        // this transaction since the prefetch, so topping up or giving back keeps seq consecutive.
        if count != ahead.count {
            _ = try connection.exec("UPDATE governance_collector_seq SET last_seq = last_seq + $2 WHERE workflow = $1",
                                    [workflow, String(count - ahead.count)])
        }
        return ahead.first
    }

    /// One index probe per session (idx_audit_session_seq), never a scan of a session's rows.
    static func headsStatement(sessions: String) -> String {
        """
        SELECT s.id, h.hmac_value FROM unnest(\(sessions)::uuid[]) AS s(id)
        CROSS JOIN LATERAL (SELECT hmac_value FROM governance_audit_events
                            WHERE session_id = s.id ORDER BY chain_seq DESC LIMIT 1) h
        """
    }

    static func heads(_ rows: PGRows) -> [UUID: String] {
        var heads: [UUID: String] = [:]
        for row in rows.rows {
            if let id = row[0].flatMap(UUID.init(text:)), let hmac = row[1] { heads[id] = hmac }
        }
        return heads
    }

    static func reserveStatement(workflow: String, count: String) -> String {
        """
        INSERT INTO governance_collector_seq (workflow, last_seq) VALUES (\(workflow), \(count))
        ON CONFLICT (workflow) DO UPDATE SET last_seq = governance_collector_seq.last_seq + EXCLUDED.last_seq
        RETURNING last_seq
        """
    }

    static func firstReserved(_ rows: PGRows, count: Int) throws(PGError) -> Int64 {
        guard let last = rows.rows.first?.first.flatMap({ $0 }).flatMap(Int64.init) else {
            throw PGError(message: "seq reservation returned nothing", sqlState: nil, connectionLost: false)
        }
        return last - Int64(count) + 1
    }
}
