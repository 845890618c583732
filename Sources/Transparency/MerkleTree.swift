import AuditStore
import Crypto

/// RFC 6962 / RFC 9162 Merkle tree hashing (the Certificate Transparency tree):
/// leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), the empty tree's root is
/// SHA-256 of nothing, and a tree of n leaves splits at the largest power of two below n.
package enum MerkleHash {
    package typealias Digest = [UInt8]

    package static func leaf(_ data: some Sequence<UInt8>) -> Digest {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return Array(hasher.finalize())
    }

    package static func node(_ left: Digest, _ right: Digest) -> Digest {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    package static let emptyRoot: Digest = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}

/// The tree's compact state: the roots of its perfect subtrees, largest first (one per set bit
/// of the size). Appending a leaf costs O(log n) hashes and the root O(log n), so a checkpoint
/// costs O(new rows) and never re-reads old ones.
package struct CompactMerkleTree: Sendable, Equatable, SealedTree {
    package private(set) var size: Int
    package private(set) var frontier: [MerkleHash.Digest]

    package init() {
        size = 0
        frontier = []
    }

    /// A stored state; nil when the hashes do not fit the size (one per set bit, 32 bytes each).
    package init?(size: Int, frontier: [MerkleHash.Digest]) {
        guard size >= 0, frontier.count == size.nonzeroBitCount, frontier.allSatisfy({ $0.count == 32 }) else { return nil }
        self.size = size
        self.frontier = frontier
    }

    package mutating func append(leafHash: MerkleHash.Digest) {
        var hash = leafHash
        var carried = size
        while carried & 1 == 1 {
            hash = MerkleHash.node(frontier.removeLast(), hash)
            carried >>= 1
        }
        frontier.append(hash)
        size += 1
    }

    package var root: MerkleHash.Digest {
        guard var root = frontier.last else { return MerkleHash.emptyRoot }
        for hash in frontier.dropLast().reversed() { root = MerkleHash.node(hash, root) }
        return root
    }
}

/// Proofs over a tree whose leaf hashes are at hand (RFC 9162 §2.1.3 and §2.1.4), and their
/// verification. Producing one costs O(n) hashes of the leaves below the tree size.
package enum MerkleProof {
    package typealias Digest = MerkleHash.Digest

    /// The root of `leaves` (MTH).
    package static func root(_ leaves: ArraySlice<Digest>) -> Digest {
        switch leaves.count {
        case 0: return MerkleHash.emptyRoot
        case 1: return leaves.first!
        default:
            let k = MerkleHash.split(leaves.count)
            return MerkleHash.node(root(leaves.prefix(k)), root(leaves.dropFirst(k)))
        }
    }

    /// PATH(m, D[n]): the audit path of leaf `index` in the tree of `leaves`.
    package static func inclusion(index: Int, leaves: ArraySlice<Digest>) -> [Digest] {
        precondition(index >= 0 && index < leaves.count)
        guard leaves.count > 1 else { return [] }
        let k = MerkleHash.split(leaves.count)
        if index < k { return inclusion(index: index, leaves: leaves.prefix(k)) + [root(leaves.dropFirst(k))] }
        return inclusion(index: index - k, leaves: leaves.dropFirst(k)) + [root(leaves.prefix(k))]
    }

    /// PROOF(m, D[n]): that the tree of the first `oldSize` leaves is a prefix of the tree of `leaves`.
    package static func consistency(oldSize: Int, leaves: ArraySlice<Digest>) -> [Digest] {
        precondition(oldSize >= 0 && oldSize <= leaves.count)
        guard oldSize > 0, oldSize < leaves.count else { return [] }
        return subproof(oldSize, leaves, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Digest>, complete: Bool) -> [Digest] {
        if m == leaves.count { return complete ? [] : [root(leaves)] }
        let k = MerkleHash.split(leaves.count)
        if m <= k { return subproof(m, leaves.prefix(k), complete: complete) + [root(leaves.dropFirst(k))] }
        return subproof(m - k, leaves.dropFirst(k), complete: false) + [root(leaves.prefix(k))]
    }

    /// RFC 9162 §2.1.3.2.
    package static func verifyInclusion(index: Int, size: Int, leafHash: Digest, path: [Digest], root: Digest) -> Bool {
        guard index >= 0, index < size else { return false }
        var (fn, sn, r) = (index, size - 1, leafHash)
        for p in path {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHash.node(p, r)
                while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
            } else {
                r = MerkleHash.node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2.
    package static func verifyConsistency(oldSize: Int, newSize: Int, oldRoot: Digest, newRoot: Digest, proof: [Digest]) -> Bool {
        guard oldSize >= 0, oldSize <= newSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty }
        var path = proof
        if oldSize.nonzeroBitCount == 1 { path.insert(oldRoot, at: 0) }
        guard let first = path.first else { return false }
        var (fn, sn) = (oldSize - 1, newSize - 1)
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var (fr, sr) = (first, first)
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHash.node(c, fr)
                sr = MerkleHash.node(c, sr)
                while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
            } else {
                sr = MerkleHash.node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}
