package import AuditStore
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
    /// A stored state whose frontier hashes are concatenated (as the state tables keep them).
    package init?(size: Int, packedFrontier hashes: [UInt8]) {
        self.init(size: size, frontier: stride(from: 0, to: hashes.count, by: 32).map { Array(hashes[$0..<min($0 + 32, hashes.count)]) })
    }

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

/// Proofs (RFC 9162 §2.1.3 and §2.1.4) as the subtrees whose roots make them, so a prover can
/// take those roots from stored interior nodes (`MerkleNodes`) in O(log n) reads; and their
/// verification.
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

    /// The leaf ranges whose roots make PATH(index, D[size]), from the leaf's sibling up.
    package static func inclusionRanges(index: Int, size: Int) -> [Range<Int>] {
        precondition(index >= 0 && index < size)
        var ranges: [Range<Int>] = []
        var (low, high) = (0, size)
        while high - low > 1 {
            let k = MerkleHash.split(high - low)
            if index < low + k {
                ranges.append(low + k..<high)
                high = low + k
            } else {
                ranges.append(low..<low + k)
                low += k
            }
        }
        return ranges.reversed()
    }

    /// The leaf ranges whose roots make PROOF(oldSize, D[newSize]), in the proof's order.
    package static func consistencyRanges(oldSize: Int, newSize: Int) -> [Range<Int>] {
        precondition(oldSize >= 0 && oldSize <= newSize)
        guard oldSize > 0, oldSize < newSize else { return [] }
        var ranges: [Range<Int>] = []
        var (low, high, m, complete) = (0, newSize, oldSize, true)
        while m != high - low {
            let k = MerkleHash.split(high - low)
            if m <= k {
                ranges.append(low + k..<high)
                high = low + k
            } else {
                ranges.append(low..<low + k)
                (low, m, complete) = (low + k, m - k, false)
            }
        }
        if !complete { ranges.append(low..<high) }
        return ranges.reversed()
    }

    /// The perfect subtrees that make the canonical subtree over `range`, largest (leftmost)
    /// first: its root is theirs folded from the right, as `CompactMerkleTree.root` does.
    package static func perfectSubtrees(_ range: Range<Int>) -> [MerkleNodeID] {
        var subtrees: [MerkleNodeID] = []
        var low = range.lowerBound
        while low < range.upperBound {
            var level = 0
            while low % (1 << (level + 1)) == 0 && low + (1 << (level + 1)) <= range.upperBound { level += 1 }
            subtrees.append(MerkleNodeID(level: level, index: low >> level))
            low += 1 << level
        }
        return subtrees
    }

    /// The root of the canonical subtree made of `subtrees`' hashes (as `perfectSubtrees` lists them).
    package static func fold(_ hashes: [Digest]) -> Digest {
        guard var root = hashes.last else { return MerkleHash.emptyRoot }
        for hash in hashes.dropLast().reversed() { root = MerkleHash.node(hash, root) }
        return root
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
