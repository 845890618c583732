import AuditStore
import Crypto
import GovernanceTesting
import Testing
import Transparency

/// Proofs read from stored interior nodes verify against the roots the leaves give, whether the
/// signer has stored every node, some, or none yet; a rewritten node makes the proof fail.
@Suite("checkpoint tree nodes: proofs from O(log n) stored hashes")
struct MerkleNodesTests {
    /// With a node stored every second level, 1,001 leaves reach four stored levels (2, 4, 6, 8).
    static let size = 1001
    /// Leaf `i`'s hash, as the tests' SQL writes it: SHA-256 of the decimal `i`.
    static let leaves = (0..<size).map { Array(SHA256.hash(data: Array(String($0).utf8))) }

    /// A new database of `cluster` with the audit table and the checkpoint tree's tables.
    static func treeTables(_ cluster: LocalPostgres) throws -> PGConnection {
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        try AuditSchema.migrate(connection)
        try CheckpointTables.migrate(connection)
        return connection
    }

    @Test("inclusion and consistency proofs from stored nodes verify against the leaves' roots: none stored, some, all; a rewritten node is caught")
    func proofsFromNodes() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.treeTables(cluster)
        try connection.exec(
            """
            INSERT INTO governance_merkle_leaves (leaf_index, event_id, leaf_hash)
            SELECT i, gen_random_uuid(), sha256(convert_to(i::text, 'UTF8')) FROM generate_series(0, \(Self.size - 1)) AS i
            """)
        let leaves = Self.leaves
        let nodes = MerkleNodes(connection: connection, stride: 2, fillLimit: 64)

        // The roots the leaves give at each size asked about (appended one by one, as the signer does).
        let sizes = [1, 4, 256, 257, 300, 1000, Self.size]
        var roots: [Int: MerkleHash.Digest] = [:]
        var tree = CompactMerkleTree()
        for leaf in leaves {
            tree.append(leafHash: leaf)
            if sizes.contains(tree.size) { roots[tree.size] = tree.root }
        }
        func expectProofsMatch() throws {
            for size in [256, 257, 300, Self.size] {
                for index in [0, 1, 3, 4, 255, 256, 299, 511, 512, Self.size - 1] where index < size {
                    let path = try nodes.roots(of: MerkleProof.inclusionRanges(index: index, size: size))
                    #expect(
                        MerkleProof.verifyInclusion(index: index, size: size, leafHash: leaves[index], path: path, root: roots[size]!),
                        "leaf \(index) of \(size)")
                }
            }
            for (old, new) in [(1, 4), (300, Self.size), (256, Self.size), (257, 1000), (Self.size, Self.size)] {
                let proof = try nodes.roots(of: MerkleProof.consistencyRanges(oldSize: old, newSize: new))
                #expect(
                    MerkleProof.verifyConsistency(oldSize: old, newSize: new, oldRoot: roots[old]!, newRoot: roots[new]!, proof: proof),
                    "\(old) to \(new)")
            }
        }

        try expectProofsMatch()
        #expect(try nodes.fill(upTo: Self.size) == false)  // one step stores a batch of the lowest level only
        #expect(try CheckpointTables.nodeCounts(levels: [2, 4, 6, 8], on: connection) == [64, 0, 0, 0])
        try expectProofsMatch()
        var calls = 1
        repeat { calls += 1 } while try !nodes.fill(upTo: Self.size)
        // 250 nodes of level 2, 64 a call; then the 62, 15 and 3 of the levels above.
        #expect(calls == 4)
        #expect(try CheckpointTables.nodeCounts(levels: [2, 4, 6, 8], on: connection) == [250, 62, 15, 3])
        try expectProofsMatch()

        // An insider rewrites a stored node (past the append-only trigger): leaf 100's path, which has
        // it (leaves 112 to 127) as a sibling, no longer leads to the root the leaves give, which a checkpoint signed.
        let (index, root) = (100, roots[Self.size]!)
        let ranges = MerkleProof.inclusionRanges(index: index, size: Self.size)
        #expect(MerkleProof.verifyInclusion(index: index, size: Self.size, leafHash: leaves[index], path: try nodes.roots(of: ranges), root: root))
        try connection.exec("SET session_replication_role = replica")
        try connection.exec("UPDATE governance_merkle_nodes SET hash = sha256('forged') WHERE level = 4 AND node_index = 7")
        #expect(!MerkleProof.verifyInclusion(index: index, size: Self.size, leafHash: leaves[index], path: try nodes.roots(of: ranges), root: root))
    }

    @Test("the signer's steps store the same nodes from the leaves it just hashed as from the table, at any step size")
    func fillFromNewLeaves() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.treeTables(cluster)
        let leaves = Self.leaves
        let nodes = MerkleNodes(connection: connection, stride: 2, fillLimit: 64)

        // Steps of 37 leaves (not aligned to any node), then one of 1 leaf and one of 300 (past the fill limit).
        var size = 0
        for step in Array(repeating: 37, count: 20) + [1, 300] + [Self.size] {
            let end = min(Self.size, size + step)
            guard end > size else { break }
            try connection.exec(
                """
                INSERT INTO governance_merkle_leaves (leaf_index, event_id, leaf_hash)
                SELECT i, gen_random_uuid(), sha256(convert_to(i::text, 'UTF8')) FROM generate_series(\(size), \(end - 1)) AS i
                """)
            var complete = try nodes.fill(upTo: end, newLeaves: Array(leaves[size..<end]))
            while !complete { complete = try nodes.fill(upTo: end) }
            size = end
        }
        for level in [2, 4, 6, 8] {
            let count = Self.size >> level
            let stored = try CheckpointTables.treeHashes([(level, 0..<count)], on: connection)
            #expect(stored.count == count, "level \(level)")
            for index in 0..<count {
                #expect(
                    stored[MerkleNodeID(level: level, index: index)] == MerkleProof.root(leaves[index << level..<(index + 1) << level]),
                    "node \(index) of level \(level)")
            }
        }
    }
}
