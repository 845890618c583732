import Config

/// What an evidence bundle reads of the audit and leaf tables (`governance-collector evidence`):
/// the rows a time range (and workflow) selects, located in the checkpoint tree. Read only.
public enum EvidenceReads {
    /// Rows created in `[from, to)` (microseconds since 1970), of `workflow` when given.
    public struct Selection: Sendable {
        public var from: Int64
        public var to: Int64
        public var workflow: String?

        public init(from: Int64, to: Int64, workflow: String?) { (self.from, self.to, self.workflow) = (from, to, workflow) }

        var parameters: [String?] { [String(from), String(to), workflow] }
        static let condition = """
            e.created_at >= timestamptz 'epoch' + $1::int8 * interval '1 microsecond'
            AND e.created_at < timestamptz 'epoch' + $2::int8 * interval '1 microsecond'
            AND ($3::text IS NULL OR e.workflow = $3)
            """
    }

    /// Where the selected rows are in the tree: how many there are, how many have a leaf, and
    /// the lowest and highest leaf index among them.
    public struct Span: Sendable, Equatable {
        public var rows: Int
        public var inTree: Int
        public var firstLeaf: Int?
        public var lastLeaf: Int?
    }

    public static func span(_ selection: Selection, on connection: PGConnection) throws(PGError) -> Span {
        let row = try connection.exec(
            """
            SELECT count(*), count(l.leaf_index), min(l.leaf_index), max(l.leaf_index)
            FROM governance_audit_events e LEFT JOIN governance_merkle_leaves l ON l.event_id = e.event_id
            WHERE \(Selection.condition)
            """, selection.parameters
        ).rows.first
        return Span(
            rows: Int(row?[0] ?? "0") ?? 0, inTree: Int(row?[1] ?? "0") ?? 0, firstLeaf: row?[2].flatMap { Int($0) },
            lastLeaf: row?[3].flatMap { Int($0) })
    }

    /// One leaf of the tree with its row (`AuditRow.selectColumns`; nil when the row is gone,
    /// removed by retention) and whether the selection takes it.
    public struct Leaf: Sendable {
        public var index: Int
        public var hash: [UInt8]
        public var columns: [String?]?
        public var selected: Bool
    }

    /// The leaves with indexes in `range`, in order (a page: keep ranges to a few thousand).
    public static func leaves(_ range: Range<Int>, selection: Selection, on connection: PGConnection) throws(PGError) -> [Leaf] {
        let width = AuditRow.selectedCount
        return try connection.exec(
            """
            SELECT l.leaf_index, encode(l.leaf_hash, 'hex'), e.*
            FROM governance_merkle_leaves l
            LEFT JOIN LATERAL (
                SELECT true AS found, (\(Selection.condition)) AS selected, \(AuditRow.selectColumns)
                FROM governance_audit_events e WHERE e.event_id = l.event_id
            ) e ON true
            WHERE l.leaf_index >= $4 AND l.leaf_index < $5 ORDER BY l.leaf_index
            """, selection.parameters + [String(range.lowerBound), String(range.upperBound)]
        ).rows.map { row in
            Leaf(
                index: Int(row[0] ?? "") ?? -1, hash: Hex.bytes(row[1] ?? "") ?? [],
                columns: row[2] == "t" ? Array(row[4..<(4 + width)]) : nil, selected: row[3] == "t")
        }
    }
}
