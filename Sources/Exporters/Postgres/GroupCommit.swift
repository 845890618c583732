import Foundation
import Pipeline

/// One group-commit transaction, and what to do when it fails.
enum GroupCommit {
    /// Commits `events` and says per event whether it was stored or already present. Throws only
    /// when the connection failed; a row the database refuses is isolated by bisection (its
    /// neighbours are committed without it) and reported as rejected.
    static func commit(_ events: [AuditEvent], on connection: PGConnection) throws(PGError) -> [CommitResult] {
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
        let uniqueResults = try commitIsolatingBadRows(unique, on: connection)
        return uniquePosition.map { $0.map { uniqueResults[$0] } ?? .duplicate }
    }

    private static func commitIsolatingBadRows(_ events: [AuditEvent], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        guard !events.isEmpty else { return [] }
        do {
            return try transaction(events, on: connection)
        } catch where error.isDataError && !error.connectionLost {
            if events.count == 1 {
                return [.rejected(EventRejection(field: "event", message: "refused by PostgreSQL: \(error.message)"))]
            }
            let middle = events.count / 2
            return try commitIsolatingBadRows(Array(events[..<middle]), on: connection)
                + commitIsolatingBadRows(Array(events[middle...]), on: connection)
        }
    }

    /// BEGIN, COPY to staging, INSERT ... ON CONFLICT DO NOTHING RETURNING, COMMIT; retried on
    /// deadlock or serialization failure.
    private static func transaction(_ events: [AuditEvent], on connection: PGConnection) throws(PGError) -> [CommitResult] {
        let data = AuditRow.encode(events)
        var attempt = 0
        while true {
            do {
                try connection.exec("BEGIN")
                try connection.copyIn(AuditRow.copyStatement, data: data)
                let inserted = try connection.execPrepared("gc_insert")
                try connection.exec("COMMIT")
                let ids = Set(inserted.rows.compactMap { $0.first.flatMap { $0 }.flatMap(UUID.init(uuidString:)) })
                return events.map { ids.contains($0.eventID) ? .stored : .duplicate }
            } catch {
                if !error.connectionLost { _ = try? connection.exec("ROLLBACK") }
                attempt += 1
                if error.isRetryable, attempt < 5 { continue }
                throw error
            }
        }
    }
}
