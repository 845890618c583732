import Config
public import Pipeline

/// `seq`: gives every stored event its workflow's next sequence number, gapless and strictly
/// increasing in PostgreSQL. Numbers are reserved from a row-locked counter in the same
/// transaction as the rows, so a failed transaction gives them back and two collectors writing
/// one workflow never collide. The client's own `seq` is kept apart as `client_seq`.
public struct SeqStage: CommitStage {
    public init() {}

    public func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
        var positions: [String: [Int]] = [:]
        for (index, event) in events.enumerated() { positions[event.workflow, default: []].append(index) }
        for workflow in positions.keys.sorted() {
            let indices = positions[workflow]!
            let first = try transaction.reserveSeq(workflow: workflow, count: indices.count)
            for (offset, index) in indices.enumerated() { events[index].seq = first + Int64(offset) }
        }
    }

    public func reads(for events: [AuditEvent]) -> [CommitRead] {
        Dictionary(grouping: events, by: \.workflow).map { CommitRead.seq(workflow: $0.key, count: $0.value.count) }
    }

    public static let factory = CommitStageFactory(type: "seq") { section throws(ConfigError) in
        try section.finish()
        return { _ in SeqStage() }
    }
}
