import Foundation
public import Pipeline

/// One group-commit transaction, and what to do when it fails.
public enum GroupCommit {
    /// The most sessions one transaction locks: each is an advisory lock held to commit, and
    /// PostgreSQL's lock table is shared (64 per connection by default). A group with more
    /// sessions is committed in several transactions.
    public static let maxSessionsPerTransaction = 256

    /// Commits `events` and says per event whether it was stored, already present, or refused.
    /// Throws only when the connection failed; a row the database refuses is isolated by
    /// bisection (its neighbours are committed without it) and reported as rejected.
    public static func commit(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        // The first occurrence of an event_id in the group goes ahead; a later copy from the same
        // workflow is a duplicate, one from another workflow is decided after it, against the
        // table (so the id's owner, stored before or now, is the one whose copy is a duplicate).
        var firstWorkflow: [UUID: String] = [:]
        var unique: [AuditEvent] = [], uniquePosition: [Int] = []
        var contested: [AuditEvent] = [], contestedPosition: [Int] = []
        var results = [CommitResult?](repeating: nil, count: events.count)
        for (index, event) in events.enumerated() {
            if let first = firstWorkflow[event.eventID] {
                if first == event.workflow {
                    results[index] = .duplicate
                } else {
                    contested.append(event)
                    contestedPosition.append(index)
                }
            } else {
                firstWorkflow[event.eventID] = event.workflow
                uniquePosition.append(index)
                unique.append(event)
            }
        }
        var committed: [CommitResult] = []
        for chunk in chunks(unique, sessionsAtMost: maxSessionsPerTransaction) {
            committed += try commitIsolatingBadRows(chunk, stages: stages, on: connection)
        }
        for (position, index) in uniquePosition.enumerated() { results[index] = committed[position] }
        if !contested.isEmpty {
            for (position, result) in try commit(contested, stages: stages, on: connection).enumerated() {
                results[contestedPosition[position]] = result
            }
        }
        return results.map { $0! }
    }

    /// `events` in order, cut wherever a part would lock more than `limit` sessions.
    static func chunks(_ events: [AuditEvent], sessionsAtMost limit: Int) -> [[AuditEvent]] {
        var parts: [[AuditEvent]] = [[]]
        var sessions = Set<UUID>()
        for event in events {
            if !sessions.contains(event.sessionID), sessions.count == limit {
                parts.append([])
                sessions = []
            }
            sessions.insert(event.sessionID)
            parts[parts.count - 1].append(event)
        }
        return parts.filter { !$0.isEmpty }
    }

    private static func commitIsolatingBadRows(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError)
        -> [CommitResult]
    {
        guard !events.isEmpty else { return [] }
        do {
            return try transaction(events, stages: stages, on: connection)
        } catch  where error.isDataError && !error.connectionLost {
            if events.count == 1 {
                return [.rejected(EventRejection(field: "event", message: "refused by PostgreSQL: \(error.message)"))]
            }
            let middle = events.count / 2
            return try commitIsolatingBadRows(Array(events[..<middle]), stages: stages, on: connection)
                + commitIsolatingBadRows(Array(events[middle...]), stages: stages, on: connection)
        }
    }

    /// BEGIN, the SDK's advisory lock on each of the group's sessions, their heads (hmac and
    /// workflow) and the stages' declared reads, in one round trip; refuse events whose session
    /// another workflow owns; run the stages; binary COPY the events straight into the table in
    /// arrival order; COMMIT.
    /// The first attempt is optimistic and copies everything. If an event_id is already stored,
    /// the COPY fails with a unique violation and the transaction is rolled back (taking its
    /// seq numbers with it). It is then redone, after one index lookup sets aside the stored
    /// event_ids (a duplicate from the same workflow, refused from another), so nothing is
    /// stored twice and no seq is skipped. Deadlocks and serialization failures are retried the same way.
    private static func transaction(_ events: [AuditEvent], stages: [any CommitStage], on connection: PGConnection) throws(PGError) -> [CommitResult]
    {
        var attempt = 0
        while true {
            do throws(PGError) {
                let transaction = PGCommitTransaction(connection: connection)
                // On a first attempt the stages' declared reads travel with the locks; a
                // retry first sets aside stored events, so its stages read when they ask.
                try transaction.begin(sessions: events.map(\.sessionID), reading: attempt == 0 ? stages.flatMap { $0.reads(for: events) } : [])
                var refused: [UUID: EventRejection] = [:]
                var fresh = events
                if attempt > 0 {
                    let rows = try connection.execPrepared("gc_existing", [pgArray(events.map(\.eventID.lowercasedString))])
                    var existing: [UUID: String?] = [:]
                    for row in rows.rows { if let id = row[0].flatMap(UUID.init(text:)) { existing[id] = row[1] } }
                    for event in events {
                        if case .some(.some(let owner)) = existing[event.eventID], owner != event.workflow {
                            refused[event.eventID] = Tenancy.eventIDTaken
                        }
                    }
                    fresh = events.filter { existing[$0.eventID] == nil }
                }
                for (id, rejection) in transaction.refuseForeignSessions(fresh) { refused[id] = rejection }
                fresh = fresh.filter { refused[$0.eventID] == nil }
                try applyStages(stages, to: &fresh, in: transaction)
                if !fresh.isEmpty {
                    try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(fresh))
                }
                try connection.exec("COMMIT")
                let stored = Dictionary(fresh.map { ($0.eventID, $0) }, uniquingKeysWith: { a, _ in a })
                return events.map { refused[$0.eventID].map(CommitResult.rejected) ?? stored[$0.eventID].map(CommitResult.stored) ?? .duplicate }
            } catch {
                if !error.connectionLost { _ = try? connection.exec("ROLLBACK") }
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
    /// Each read session's owning workflow, as `refuseForeignSessions` sees it.
    private var owners: [UUID: String] = [:]

    init(connection: PGConnection) {
        self.connection = connection
    }

    /// BEGIN; the SDK's advisory lock on each session; then one seq reservation per declared
    /// workflow (sorted, so two writers never lock counters in opposite orders) and one query
    /// for the head of every session (its hmac, for the chain, and its workflow, the session's
    /// owner). Keys are integers and workflows are escaped, so all of it can be written into
    /// one multi-statement string.
    func begin(sessions: [UUID], reading reads: [CommitRead]) throws(PGError) {
        var counts: [String: Int] = [:]
        var sessions = Set(sessions)
        for read in reads {
            switch read {
            case .seq(let workflow, let count): if count > 0 { counts[workflow] = count }
            case .chainHeads(let ids): sessions.formUnion(ids)
            }
        }
        let keys = Set(sessions.map(\.advisoryLockKey)).sorted()
        let seqCounts = counts.sorted { $0.key < $1.key }
        var sql = "BEGIN; SELECT pg_advisory_xact_lock(k) FROM unnest('\(GroupCommit.pgArray(keys.map(String.init)))'::int8[]) AS k"
        for (workflow, count) in seqCounts {
            sql += "; " + Self.reserveStatement(workflow: connection.escapeLiteral(workflow), count: String(count))
        }
        sql += "; " + Self.headsStatement(sessions: "'\(GroupCommit.pgArray(sessions.map(\.lowercasedString)))'")
        let results = try connection.execEach(sql).dropFirst(2)
        guard results.count == seqCounts.count + 1 else {
            throw PGError(message: "BEGIN with the declared reads returned \(results.count) results", sqlState: nil, connectionLost: false)
        }
        for ((workflow, count), rows) in zip(seqCounts, results) {
            reserved[workflow] = (try Self.firstReserved(rows, count: count), count)
        }
        if let rows = results.last { read(heads: rows) }
        headsRead = sessions
    }

    /// Events whose session another workflow owns (the workflow of its newest row; a session
    /// only the SDK wrote, with no workflow, is owned by none), refused. Within the group the
    /// first workflow to write a new session owns it.
    func refuseForeignSessions(_ events: [AuditEvent]) -> [UUID: EventRejection] {
        var refused: [UUID: EventRejection] = [:]
        for event in events {
            if let owner = owners[event.sessionID] {
                if owner != event.workflow { refused[event.eventID] = Tenancy.sessionTaken }
            } else {
                owners[event.sessionID] = event.workflow
            }
        }
        return refused
    }

    func chainHeads(_ sessions: [UUID]) throws -> [UUID: String] {
        let missing = sessions.filter { !headsRead.contains($0) }
        if !missing.isEmpty {
            read(heads: try connection.exec(Self.headsStatement(sessions: "$1"), [GroupCommit.pgArray(missing.map(\.lowercasedString))]))
            headsRead.formUnion(missing)
        }
        let wanted = Set(sessions)
        return heads.filter { wanted.contains($0.key) }
    }

    func addSpend(_ spend: [BudgetSpend], alertCap: String) throws -> [BudgetSpend.Total] {
        try BudgetLedger.addSpend(spend, alertCap: alertCap, on: connection)
    }

    func recordAlert(_ alert: BudgetAlertRecord) throws -> Bool? {
        try BudgetLedger.recordAlert(alert, on: connection)
    }

    func reserveSeq(workflow: String, count: Int) throws -> Int64 {
        guard let ahead = reserved.removeValue(forKey: workflow) else {
            return try Self.firstReserved(
                connection.exec(Self.reserveStatement(workflow: "$1", count: "$2"), [workflow, String(count)]), count: count)
        }
        // A stage added events (budget alerts) or fewer arrived: the counter row is locked by
        // this transaction since the prefetch, so topping up or giving back keeps seq consecutive.
        if count != ahead.count {
            _ = try connection.exec(
                "UPDATE governance_collector_seq SET last_seq = last_seq + $2 WHERE workflow = $1",
                [workflow, String(count - ahead.count)])
        }
        return ahead.first
    }

    /// One index probe per session (idx_audit_session_seq), never a scan of a session's rows.
    static func headsStatement(sessions: String) -> String {
        """
        SELECT s.id, h.hmac_value, h.workflow FROM unnest(\(sessions)::uuid[]) AS s(id)
        CROSS JOIN LATERAL (SELECT hmac_value, workflow FROM governance_audit_events
                            WHERE session_id = s.id ORDER BY chain_seq DESC LIMIT 1) h
        """
    }

    private func read(heads rows: PGRows) {
        for row in rows.rows {
            guard let id = row[0].flatMap(UUID.init(text:)) else { continue }
            if let hmac = row[1], heads[id] == nil { heads[id] = hmac }
            if let workflow = row[2], owners[id] == nil { owners[id] = workflow }
        }
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

/// Refusals that keep one workflow out of another's rows: an event id or a session is the
/// workflow's that first stored it (409, naming the field), never reported as a duplicate.
enum Tenancy {
    static let eventIDTaken = EventRejection(field: "event_id", message: "is already stored by another workflow; choose a new event_id", status: 409)
    static let sessionTaken = EventRejection(field: "payload.session_id", message: "belongs to another workflow; start a new session", status: 409)
}
