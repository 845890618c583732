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
    /// when every one is stored. `newLeaves`, the hashes of the leaves this step appended
    /// (the tree's last ones), are used as they are: the signer reads back only the few leaves
    /// before them that share a node, and a tree from before nodes were kept is read in one
    /// range scan per level.
    package func fill(upTo size: Int, newLeaves: [MerkleHash.Digest] = []) throws -> Bool {
        let levels = Array(Swift.stride(from: stride, through: 62, by: stride).prefix { 1 << $0 <= size })
        guard !levels.isEmpty else { return true }
        // Hashes held in memory one stride below the level being filled: its last ones.
        var below = (first: size - newLeaves.count, hashes: newLeaves)
        for (level, have) in zip(levels, try CheckpointTables.nodeCounts(levels: levels, on: connection)) {
            let want = size >> level
            guard have < want else {
                below = (want, [])
                continue
            }
            let end = min(want, have + fillLimit)
            let children = try hashes(level: level - stride, range: have << stride..<end << stride, known: below)
            let nodes = Swift.stride(from: 0, to: children.count, by: 1 << stride).map { MerkleProof.root(children[$0..<$0 + 1 << stride]) }
            try CheckpointTables.addNodes(level: level, first: have, hashes: nodes, on: connection)
            // The level above is built from this one: it waits until this one is complete.
            if end < want { return false }
            below = (have, nodes)
        }
        return true
    }

    /// The stored hashes of `range` at a stored level, taking the ones `known` holds from memory.
    private func hashes(
        level: Int, range: Range<Int>, known: (first: Int, hashes: [MerkleHash.Digest])
    ) throws -> ArraySlice<MerkleHash.Digest> {
        let split = min(max(known.first, range.lowerBound), range.upperBound)
        let (fromTable, fromMemory) = (range.lowerBound..<split, split..<range.upperBound)
        guard fromMemory.upperBound <= known.first + known.hashes.count else {
            throw Failure(description: "level \(level) holds no hashes past \(known.first + known.hashes.count)")
        }
        var hashes: [MerkleHash.Digest] = []
        hashes.reserveCapacity(range.count)
        if !fromTable.isEmpty {
            let stored = try CheckpointTables.treeHashes([(level, fromTable)], on: connection)
            for index in fromTable {
                guard let hash = stored[MerkleNodeID(level: level, index: index)] else {
                    throw Failure(description: "level \(level) has no stored hash \(index)")
                }
                hashes.append(hash)
            }
        }
        if !fromMemory.isEmpty { hashes += known.hashes[(fromMemory.lowerBound - known.first)..<(fromMemory.upperBound - known.first)] }
        return hashes[...]
    }
}
