import Config
import Testing
@testable import Transparency

/// The tree against the Certificate Transparency test vectors (certificate-transparency-go's
/// merkle tests, RFC 6962 hashing) and every proof against its verifier for small trees.
@Suite struct MerkleTreeTests {
    static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .map { Hex.bytes($0)! }
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    @Test func compactTreeMatchesTheVectors() {
        var tree = CompactMerkleTree()
        #expect(tree.root.hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for (leaf, root) in zip(Self.leaves, Self.roots) {
            tree.append(leafHash: MerkleHash.leaf(leaf))
            #expect(tree.root.hexString == root)
        }
        let restored = CompactMerkleTree(size: tree.size, frontier: tree.frontier)
        #expect(restored == tree)
        #expect(CompactMerkleTree(size: 7, frontier: tree.frontier) == nil)
    }

    @Test func proofsVerifyAndFlippedOnesDoNot() {
        let hashes = (0..<33).map { MerkleHash.leaf([UInt8($0)]) }
        for size in 1...hashes.count {
            let leaves = hashes[..<size]
            let root = MerkleProof.root(leaves)
            var tree = CompactMerkleTree()
            for h in leaves { tree.append(leafHash: h) }
            #expect(tree.root == root)
            for index in 0..<size {
                let path = MerkleProof.inclusion(index: index, leaves: leaves)
                #expect(MerkleProof.verifyInclusion(index: index, size: size, leafHash: hashes[index], path: path, root: root))
                #expect(
                    !MerkleProof.verifyInclusion(index: (index + 1) % size, size: size, leafHash: hashes[index], path: path, root: root) || size == 1)
                if var flipped = path.first {
                    flipped[0] ^= 1
                    #expect(
                        !MerkleProof.verifyInclusion(
                            index: index, size: size, leafHash: hashes[index], path: [flipped] + path.dropFirst(), root: root))
                }
            }
            for old in 1...size {
                let proof = MerkleProof.consistency(oldSize: old, leaves: leaves)
                let oldRoot = MerkleProof.root(hashes[..<old])
                #expect(MerkleProof.verifyConsistency(oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof))
                if var flipped = proof.last {
                    flipped[31] ^= 0x80
                    #expect(
                        !MerkleProof.verifyConsistency(
                            oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof.dropLast() + [flipped]))
                }
            }
        }
    }
}

/// Proofs from every leaf hash, as RFC 9162 defines them: the ranges' roots, each hashed from its leaves.
extension MerkleProof {
    static func inclusion(index: Int, leaves: ArraySlice<Digest>) -> [Digest] {
        inclusionRanges(index: index, size: leaves.count).map { root(leaves[shifted($0, leaves)]) }
    }

    static func consistency(oldSize: Int, leaves: ArraySlice<Digest>) -> [Digest] {
        consistencyRanges(oldSize: oldSize, newSize: leaves.count).map { root(leaves[shifted($0, leaves)]) }
    }

    private static func shifted(_ range: Range<Int>, _ leaves: ArraySlice<Digest>) -> Range<Int> {
        range.lowerBound + leaves.startIndex..<range.upperBound + leaves.startIndex
    }
}
