import Foundation

/// Work that must happen inside the primary's transaction, because its state lives in the
/// database: the gapless per-workflow seq and the per-session HMAC chain. The primary calls
/// each stage after it has locked the group's sessions and removed events already stored, and
/// before it inserts; a rolled-back transaction therefore leaves no gap and no fork.
public protocol CommitStage: Sendable {
    /// True for a stage that computes `hmac` for events that arrive without one.
    var assignsHMAC: Bool { get }
    func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws
}

extension CommitStage {
    public var assignsHMAC: Bool { false }
}

/// What a commit stage may ask of the primary's open transaction.
public protocol CommitTransaction {
    /// The newest stored `hmac_value` per session (its chain head), for sessions that have one.
    func chainHeads(_ sessions: [UUID]) throws -> [UUID: String]
    /// Reserves `count` consecutive sequence numbers of `workflow` until commit; returns the first.
    /// Callers reserving for several workflows do so in sorted order (no lock-order deadlocks).
    func reserveSeq(workflow: String, count: Int) throws -> Int64
    /// Runs one statement with text parameters; returns the rows as text (nil for NULL). For
    /// stages that keep their own state in the database (budget spend and alerts).
    func query(_ sql: String, _ parameters: [String?]) throws -> [[String?]]
}

extension UUID {
    /// The SDK's advisory-lock key for a session: its first 8 bytes as a signed big-endian Int64.
    public var advisoryLockKey: Int64 {
        withUnsafeBytes(of: uuid) { raw in
            Int64(bigEndian: raw.loadUnaligned(as: Int64.self))
        }
    }
}
