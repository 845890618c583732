package import AuditStore
import Pipeline

/// The checkpoint tree's hashes as stored: leaves in `governance_merkle_leaves`, and interior
/// nodes every fourth level in `governance_merkle_nodes`, written by the signer behind the
/// leaves (`fill`). Any perfect subtree's hash is then one read of at most 8 rows, so a proof
/// costs O(log n) reads (a few hundred bytes) at any tree size. A node not yet stored is computed from the
/// rows below it, so proofs never wait for the signer.
package struct MerkleNodes {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    let connection: PGConnection
    /// Levels 4, 8, 12…: a node is the root of 16 stored hashes one stride down, and the
    /// nodes are a fifteenth as many rows as the leaves. (Tests use a smaller stride, to reach
    /// several stored levels with few leaves.)
    let stride: Int
    /// The most nodes of one level `fill` adds in a step (16,384 leaves' worth at level 4), so a
    /// large backfill does not hold the signer for long.
    let fillLimit: Int

    package init(connection: PGConnection, stride: Int = 4, fillLimit: Int = 1024) {
        (self.connection, self.stride, self.fillLimit) = (connection, stride, fillLimit)
    }

    /// The hashes of `ids`, in order, in two queries when every node they need is stored.
    package func hashes(of ids: [MerkleNodeID]) throws -> [MerkleHash.Digest] {
        let requests = ids.map { id in
            let base = id.level - id.level % stride
            let span = id.level - base
            return (level: base, range: id.index << span..<(id.index + 1) << span)
        }
        let stored = try CheckpointTables.treeHashes(requests, on: connection)
        var missing: [MerkleNodeID] = []
        for request in requests {
            for index in request.range where stored[MerkleNodeID(level: request.level, index: index)] == nil {
                guard request.level > 0 else { throw Failure(description: "the leaf record has no leaf \(index)") }
                missing.append(MerkleNodeID(level: request.level, index: index))
            }
        }
        // A node not stored yet is the hash of its two children, read or computed the same way.
        var computed: [MerkleNodeID: MerkleHash.Digest] = [:]
        if !missing.isEmpty {
            let children = missing.flatMap {
                [MerkleNodeID(level: $0.level - 1, index: 2 * $0.index), MerkleNodeID(level: $0.level - 1, index: 2 * $0.index + 1)]
            }
            let hashes = try hashes(of: children)
            for (offset, node) in missing.enumerated() { computed[node] = MerkleHash.node(hashes[2 * offset], hashes[2 * offset + 1]) }
        }
        return requests.map { request in
            let base = request.range.map { index in
                let id = MerkleNodeID(level: request.level, index: index)
                return stored[id] ?? computed[id]!
            }
            return MerkleProof.root(base[...])
        }
    }

    /// The root of the canonical subtree over each of `ranges` (a proof's hashes).
    package func roots(of ranges: [Range<Int>]) throws -> [MerkleHash.Digest] {
        let subtrees = ranges.map(MerkleProof.perfectSubtrees)
        var hashes = try hashes(of: subtrees.flatMap { $0 })[...]
        return subtrees.map { ids in
            defer { hashes = hashes.dropFirst(ids.count) }
            return MerkleProof.fold(Array(hashes.prefix(ids.count)))
        }
    }

    /// Stores the nodes the first `size` leaves complete, at most `fillLimit` per level; true
    /// when every one is stored.
    package func fill(upTo size: Int) throws -> Bool {
        let levels = Array(Swift.stride(from: stride, through: 62, by: stride).prefix { 1 << $0 <= size })
        guard !levels.isEmpty else { return true }
        for (level, have) in zip(levels, try CheckpointTables.nodeCounts(levels: levels, on: connection)) {
            let want = size >> level
            guard have < want else { continue }
            let end = min(want, have + fillLimit)
            let nodes = try hashes(of: (have..<end).map { MerkleNodeID(level: level, index: $0) })
            try CheckpointTables.addNodes(level: level, first: have, hashes: nodes, on: connection)
            // The level above is built from this one: it waits until this one is complete.
            if end < want { return false }
        }
        return true
    }
}
