public import Config
import Crypto
public import Foundation
import Pipeline

/// The checkpoint tree's compact state as a retention seal records it (Transparency's
/// `CompactMerkleTree`): the store keeps the leaves, the tree type does the hashing.
public protocol SealedTree {
    init()
    init?(size: Int, frontier: [[UInt8]])
    var size: Int { get }
    var frontier: [[UInt8]] { get }
    var root: [UInt8] { get }
    mutating func append(leafHash: [UInt8])
}

/// One retention pass, in one transaction: the rows received before the cutoff (the start of the
/// UTC day `keep` days ago) are removed as a prefix of the table in commit order, after a seal
/// records what they were (RetentionRecord) and a seal event, chained in its own session, says so
/// in the audit trail itself. Removing only a commit-order prefix keeps the rest checkable: each
/// session's first remaining row links to a recorded head, each workflow's seq continues from a
/// recorded range, and the Merkle tree continues from the recorded compact state.
///
/// When the database keeps a checkpoint tree, only rows a signed checkpoint already covers are
/// removed: a row is attested before it goes.
public struct RetentionRun {
    public struct Removal: Sendable {
        public var sealID: UUID?
        public var rows: Int64
        public var cutoff: String
        public var sessions: Int
        public var treeSize: Int?
        /// More rows were due than `maxRows` allowed in one pass.
        public var more: Bool
    }

    public enum Outcome: Sendable {
        /// Another collector holds the retention lock.
        case busy
        case nothingDue(cutoff: String, reason: String)
        /// Rows removed (or, in a dry run, that would be).
        case removed(Removal)
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// One retention pass at a time per database.
    static let lockKey: Int64 = 0x6763_7265_7465_6e74  // "gcretent"

    let connection: PGConnection
    let tree: any SealedTree.Type

    /// `tree`: the checkpoint tree's type, for a database that keeps one.
    public init(connection: PGConnection, tree: any SealedTree.Type) {
        self.connection = connection
        self.tree = tree
    }

    /// `secret` keys the seal event's HMAC (the chain's secret); `checkpointed`: checkpoints are
    /// configured for this database, so nothing goes before the signer's tree covers it, even if
    /// the signer has not started yet; `dryRun` reports and rolls back.
    public func run(keep: RetentionPeriod, secret: [UInt8], maxRows: Int, checkpointed: Bool, dryRun: Bool = false) throws -> Outcome {
        try connection.exec("BEGIN")
        do {
            let outcome = try pass(keep: keep, secret: secret, maxRows: maxRows, checkpointed: checkpointed, dryRun: dryRun)
            if case .removed = outcome, !dryRun { try connection.exec("COMMIT") } else { try connection.exec("ROLLBACK") }
            return outcome
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }

    private func pass(keep: RetentionPeriod, secret: [UInt8], maxRows: Int, checkpointed: Bool, dryRun: Bool) throws -> Outcome {
        guard try connection.exec("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))").rows.first?.first == "t" else { return .busy }
        try connection.exec("SET LOCAL TimeZone = 'UTC'")
        let cutoff = try connection.exec("SELECT date_trunc('day', now() - interval '\(keep.days) days', 'UTC')::text").rows[0][0] ?? ""
        guard try AuditSchema.columns(connection).isSuperset(of: ["governance_txid", "received_at"]) else {
            throw Failure(
                description:
                    "governance_audit_events has no governance_txid or received_at column: run `governance-collector migrate` (with checkpoints: configured, which adds governance_txid)"
            )
        }
        let keepsTree = try CheckpointTables.exist(on: connection)
        if checkpointed, !keepsTree {
            return .nothingDue(cutoff: cutoff, reason: "the checkpoint signer has not started its tree yet")
        }
        var bound = ""
        var params: [String?] = [cutoff, String(maxRows)]
        if keepsTree {
            // The row of the newest signed checkpoint's last leaf: nothing after it may go.
            guard
                let last = try connection.exec(
                    """
                    SELECT e.governance_txid::text, e.chain_seq FROM governance_merkle_leaves l JOIN governance_audit_events e USING (event_id)
                    WHERE l.leaf_index = (SELECT max(tree_size) - 1 FROM governance_checkpoints)
                    """
                ).rows.first
            else {
                return .nothingDue(cutoff: cutoff, reason: "no signed checkpoint covers a row not yet removed")
            }
            params += [last[0], last[1]]
            bound = " AND (governance_txid, chain_seq) <= ($3::xid8, $4::int8)"
        }
        // Walk the oldest committed rows in commit order; the cut is the last one before the first
        // row received on or after the cutoff (a row without received_at counts as recent).
        guard
            let cut = try connection.exec(
                """
                WITH walk AS MATERIALIZED (
                    SELECT governance_txid, chain_seq, coalesce(received_at >= $1::timestamptz, true) AS recent,
                           row_number() OVER (ORDER BY governance_txid, chain_seq) AS n
                    FROM governance_audit_events
                    WHERE governance_txid < pg_snapshot_xmin(pg_current_snapshot())\(bound)
                    ORDER BY governance_txid, chain_seq LIMIT ($2::int8 + 1))
                SELECT governance_txid::text, chain_seq, n, (SELECT count(*) FROM walk) > $2::int8 FROM walk
                WHERE n <= least(coalesce((SELECT min(n) - 1 FROM walk WHERE recent), $2::int8), $2::int8)
                ORDER BY n DESC LIMIT 1
                """, params
            ).rows.first, var txid = cut[0], var chainSeq = cut[1], var rows = cut[2].flatMap({ Int64($0) })
        else {
            return .nothingDue(
                cutoff: cutoff,
                reason: keepsTree ? "no row signed into a checkpoint was received before the cutoff" : "no row was received before the cutoff")
        }
        var more = cut[3] == "t" && rows == Int64(maxRows)
        // Commit order can differ from a workflow's seq order (a transaction that reserved one
        // workflow's numbers first may wait for another's) and, rarely, from a session's chain
        // order: then the cut moves back before the first removed row a kept row precedes, so
        // what stays still continues each recorded seq range and head.
        var interleaved = 0
        while let offender = try firstInterleaved(txid: txid, chainSeq: chainSeq) {
            interleaved += 1
            guard interleaved <= 10,
                let earlier = try connection.exec(
                    """
                    SELECT governance_txid::text, chain_seq, (SELECT count(*) FROM governance_audit_events
                        WHERE (governance_txid, chain_seq) < ($1::xid8, $2::int8)) FROM governance_audit_events
                    WHERE (governance_txid, chain_seq) < ($1::xid8, $2::int8) ORDER BY governance_txid DESC, chain_seq DESC LIMIT 1
                    """, [offender.txid, offender.chainSeq]
                ).rows.first, let t = earlier[0], let c = earlier[1], let n = earlier[2].flatMap({ Int64($0) })
            else {
                return .nothingDue(
                    cutoff: cutoff,
                    reason: "the oldest rows' commit order interleaves with their sessions' or workflows' order; a later pass continues")
            }
            (txid, chainSeq, rows, more) = (t, c, n, false)
        }
        let removed = "(governance_txid, chain_seq) <= ('\(txid)'::xid8, \(chainSeq)::int8)"
        if dryRun {
            let sessions =
                try connection.exec("SELECT count(DISTINCT session_id) FROM governance_audit_events WHERE \(removed)").rows[0][0].flatMap { Int($0) }
                ?? 0
            return .removed(Removal(sealID: nil, rows: rows, cutoff: cutoff, sessions: sessions, treeSize: nil, more: more))
        }

        let seal = UUID()
        let sealText = seal.lowercasedString
        let sessions = try connection.exec(
            """
            INSERT INTO governance_retention_heads (seal_id, session_id, last_chain_seq, last_hmac)
            SELECT DISTINCT ON (session_id) $1::uuid, session_id, chain_seq, hmac_value FROM governance_audit_events
            WHERE \(removed) ORDER BY session_id, chain_seq DESC
            """, [sealText]
        ).affected
        try connection.exec(
            """
            INSERT INTO governance_retention_seq (seal_id, workflow, first_seq, last_seq, rows)
            SELECT $1::uuid, workflow, min(seq), max(seq), count(*) FROM governance_audit_events
            WHERE \(removed) AND seq IS NOT NULL AND workflow IS NOT NULL GROUP BY workflow
            """, [sealText])
        let digests = try connection.exec("SELECT (\(RetentionRecord.headsDigest)), (\(RetentionRecord.seqDigest))", [sealText]).rows[0]
        let range = try connection.exec(
            """
            SELECT max(chain_seq), min(received_at)::text, max(received_at)::text, min(created_at)::text, max(created_at)::text
            FROM governance_audit_events WHERE \(removed)
            """
        ).rows[0]
        let tree = keepsTree ? try treeAtCut(txid: txid, chainSeq: chainSeq, rows: rows) : nil

        try connection.exec(
            """
            INSERT INTO governance_retention_seals (seal_id, keep, cutoff, cut_txid, cut_chain_seq, removed_rows, max_chain_seq, first_received_at,
                last_received_at, first_created_at, last_created_at, tree_size, frontier, heads_sha256, seq_sha256)
            VALUES ($1::uuid, $2, $3::timestamptz, $4::xid8, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10::timestamptz, $11::timestamptz,
                    $12, decode($13, 'hex'), $14, $15)
            """,
            [
                sealText, keep.text, cutoff, txid, chainSeq, String(rows), range[0], range[1], range[2], range[3], range[4],
                tree.map { String($0.size) }, tree.map { $0.frontier.joined().hexString }, digests[0], digests[1],
            ])
        var metadata: [JSONValue.Member] = [
            .init("keep", .string(keep.text)), .init("cutoff", .string(cutoff)), .init("removed_rows", .number(String(rows))),
            .init("cut", .string("\(txid):\(chainSeq)")), .init("sessions", .number(String(sessions))),
            .init("heads_sha256", .string(digests[0] ?? "")), .init("seq_sha256", .string(digests[1] ?? "")),
            .init("first_received_at", range[1].map(JSONValue.string) ?? .null), .init("last_received_at", range[2].map(JSONValue.string) ?? .null),
        ]
        if let tree {
            metadata += [.init("tree_size", .number(String(tree.size))), .init("tree_root", .string(tree.root.hexString))]
        }
        try writeSealEvent(seal, metadata: .object(metadata), secret: secret)
        let deleted = try connection.exec("DELETE FROM governance_audit_events WHERE \(removed)").affected
        guard deleted == rows else { throw Failure(description: "removed \(deleted) rows where the seal counted \(rows): rolled back") }
        // The dashboard's counts of what is gone: buckets that end before the cutoff and before
        // every row left (the rollup is by created_at, retention by received_at).
        if try connection.exec("SELECT to_regclass('governance_event_rollup') IS NOT NULL").rows.first?.first == "t" {
            try connection.exec(
                """
                DELETE FROM governance_event_rollup
                WHERE bucket + width * interval '1 second' <= least($1::timestamptz, (SELECT min(created_at) FROM governance_audit_events))
                """, [cutoff])
        }
        return .removed(Removal(sealID: seal, rows: rows, cutoff: cutoff, sessions: sessions, treeSize: tree?.size, more: more))
    }

    /// The first row, in commit order, of those up to the cut that a row after the cut precedes
    /// in its session's chain or its workflow's seq; nil when none does.
    private func firstInterleaved(txid: String, chainSeq: String) throws(PGError) -> (txid: String, chainSeq: String)? {
        let row = try connection.exec(
            """
            WITH removed AS MATERIALIZED (
                SELECT governance_txid, chain_seq, session_id, workflow, seq FROM governance_audit_events
                WHERE (governance_txid, chain_seq) <= ($1::xid8, $2::int8)),
            sessions AS MATERIALIZED (
                SELECT * FROM (
                    SELECT r.session_id, (SELECT min(k.chain_seq) FROM governance_audit_events k WHERE k.session_id = r.session_id
                                            AND k.chain_seq < r.last AND (k.governance_txid, k.chain_seq) > ($1::xid8, $2::int8)) AS kept
                    FROM (SELECT session_id, max(chain_seq) AS last FROM removed GROUP BY 1) r) s
                WHERE kept IS NOT NULL),
            workflows AS MATERIALIZED (
                SELECT * FROM (
                    SELECT r.workflow, (SELECT min(k.seq) FROM governance_audit_events k WHERE k.workflow = r.workflow
                                          AND k.seq < r.last AND (k.governance_txid, k.chain_seq) > ($1::xid8, $2::int8)) AS kept
                    FROM (SELECT workflow, max(seq) AS last FROM removed WHERE seq IS NOT NULL AND workflow IS NOT NULL GROUP BY 1) r) w
                WHERE kept IS NOT NULL)
            SELECT r.governance_txid::text, r.chain_seq FROM removed r
            LEFT JOIN sessions s ON s.session_id = r.session_id LEFT JOIN workflows w ON w.workflow = r.workflow
            WHERE s.kept < r.chain_seq OR w.kept < r.seq
            ORDER BY r.governance_txid, r.chain_seq LIMIT 1
            """, [txid, chainSeq]
        ).rows.first
        guard let row, let t = row[0], let c = row[1] else { return nil }
        return (t, c)
    }

    /// The checkpoint tree at the cut: the newest earlier seal's compact state (or the empty
    /// tree) with the leaves of the rows removed now appended, read from the signer's record.
    private func treeAtCut(txid: String, chainSeq: String, rows: Int64) throws -> any SealedTree {
        guard let chainSeq = Int64(chainSeq),
            let size = try CheckpointTables.leafCount(through: .init(txid: txid, chainSeq: chainSeq), on: connection)
        else {
            throw Failure(description: "the last row to remove is not a leaf of the checkpoint tree")
        }
        let earlier = try RetentionRecord(connection: connection).treeCut()
        guard var tree = earlier.map({ self.tree.init(size: $0.size, frontier: $0.frontier) }) ?? self.tree.init() else {
            throw Failure(description: "the newest seal's tree state is malformed")
        }
        guard size - tree.size == Int(rows) else {
            throw Failure(
                description: "the rows to remove are leaves \(tree.size)..<\(size) of the checkpoint tree, but they are \(rows) rows: nothing removed"
            )
        }
        while tree.size < size {
            let leaves = try CheckpointTables.leafHashes(tree.size..<min(size, tree.size + 50_000), on: connection)
            guard !leaves.isEmpty else { throw Failure(description: "the checkpoint tree's leaves from \(tree.size) are missing: nothing removed") }
            for leaf in leaves { tree.append(leafHash: leaf.hash) }
        }
        return tree
    }

    /// The seal as an audit event: chained in the seal session, keyed with the chain's secret,
    /// in the same transaction as the removal it describes.
    private func writeSealEvent(_ seal: UUID, metadata: JSONValue, secret: [UInt8]) throws {
        let session = RetentionRecord.sealSession
        try connection.exec("SELECT pg_advisory_xact_lock(\(session.advisoryLockKey))")
        let previous =
            try connection.exec(
                "SELECT hmac_value FROM governance_audit_events WHERE session_id = $1::uuid ORDER BY chain_seq DESC LIMIT 1",
                [session.lowercasedString]
            ).rows.first?[0] ?? nil
        var event = AuditEvent(
            eventID: seal, sessionID: session, agentID: "governance.system", kind: RetentionRecord.sealKind,
            metadata: metadata, prevHash: previous, createdAt: .now(), workflow: "")
        event.hmac = AuditChain.hmac(event, key: SymmetricKey(data: secret))
        try connection.exec(
            """
            INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at)
            VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7, $8::timestamptz)
            """,
            [
                seal.lowercasedString, session.lowercasedString, event.agentID, event.kind, event.metadata.serialized(.pythonCanonical),
                event.prevHash, event.hmac, event.createdAt.pythonISOFormat,
            ])
    }
}
