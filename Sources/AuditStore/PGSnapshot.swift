/// A PostgreSQL snapshot as `pg_current_snapshot()::text` spells it (`xmin:xmax:xip,…`): which
/// transactions' rows a reader that took it could see. A live page compares the transaction ids
/// of streamed rows with the snapshot its figures came from, so a row is counted exactly once.
public struct PGSnapshot: Sendable, Equatable {
    public var xmin: UInt64
    public var xmax: UInt64
    public var inProgress: Set<UInt64>

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else { return nil }
        let running = parts[2].isEmpty ? [] : parts[2].split(separator: ",", omittingEmptySubsequences: false).map { UInt64($0) }
        guard running.allSatisfy({ $0 != nil }) else { return nil }
        self.xmin = xmin
        self.xmax = xmax
        inProgress = Set(running.compactMap { $0 })
    }

    /// True when rows inserted by transaction `txid` were visible to a reader of this snapshot.
    public func sees(_ txid: UInt64) -> Bool {
        txid < xmin || (txid < xmax && !inProgress.contains(txid))
    }

    public var text: String { "\(xmin):\(xmax):" + inProgress.sorted().map(String.init).joined(separator: ",") }
}
