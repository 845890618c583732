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

    /// BEGIN; lock the group's sessions with the SDK's advisory-lock key when stages run; run
    /// the stages; binary COPY the events straight into the table in arrival order; COMMIT
    /// (without stages, a first attempt is the COPY alone).
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
                // all); with stages BEGIN travels with the advisory locks.
                let autocommit = stages.isEmpty && attempt == 0
                if !stages.isEmpty {
                    // Integers only, so the keys can be written into the statement.
                    let keys = Set(events.map(\.sessionID.advisoryLockKey)).sorted()
                    try connection.exec("BEGIN; SELECT pg_advisory_xact_lock(k) FROM unnest('\(pgArray(keys.map(String.init)))'::int8[]) AS k")
                } else if !autocommit {
                    try connection.exec("BEGIN")
                }
                var fresh = events
                if attempt > 0 {
                    let rows = try connection.execPrepared("gc_existing", [pgArray(events.map(\.eventID.lowercasedString))])
                    let existing = Set(rows.rows.compactMap { $0[0].flatMap(UUID.init(text:)) })
                    fresh = events.filter { !existing.contains($0.eventID) }
                }
                try applyStages(stages, to: &fresh, on: connection)
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

    private static func applyStages(_ stages: [any CommitStage], to events: inout [AuditEvent], on connection: PGConnection) throws(PGError) {
        guard !stages.isEmpty else { return }
        let transaction = PGCommitTransaction(connection: connection)
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

/// The commit stages' view of the open transaction.
struct PGCommitTransaction: CommitTransaction {
    let connection: PGConnection

    func chainHeads(_ sessions: [UUID]) throws -> [UUID: String] {
        // One index probe per session (idx_audit_session_seq), never a scan of a session's rows.
        let rows = try connection.exec("""
            SELECT s.id, h.hmac_value FROM unnest($1::uuid[]) AS s(id)
            CROSS JOIN LATERAL (SELECT hmac_value FROM governance_audit_events
                                WHERE session_id = s.id ORDER BY chain_seq DESC LIMIT 1) h
            """, [GroupCommit.pgArray(sessions.map(\.lowercasedString))])
        var heads: [UUID: String] = [:]
        for row in rows.rows {
            if let id = row[0].flatMap(UUID.init(text:)), let hmac = row[1] { heads[id] = hmac }
        }
        return heads
    }

    func query(_ sql: String, _ parameters: [String?]) throws -> [[String?]] {
        try connection.exec(sql, parameters).rows
    }

    func reserveSeq(workflow: String, count: Int) throws -> Int64 {
        let rows = try connection.exec("""
            INSERT INTO governance_collector_seq (workflow, last_seq) VALUES ($1, $2)
            ON CONFLICT (workflow) DO UPDATE SET last_seq = governance_collector_seq.last_seq + EXCLUDED.last_seq
            RETURNING last_seq
            """, [workflow, String(count)])
        guard let last = rows.rows.first?.first.flatMap({ $0 }).flatMap(Int64.init) else {
            throw PGError(message: "seq reservation returned nothing", sqlState: nil, connectionLost: false)
        }
        return last - Int64(count) + 1
    }
}
