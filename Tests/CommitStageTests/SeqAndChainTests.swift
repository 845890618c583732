import Crypto
import Foundation
import GovernanceTesting
import Pipeline
@testable import CommitStages
import Testing

@Suite("seq and chain inside a commit")
struct SeqAndChainTests {
    @Test("seq numbers each workflow's events consecutively, reserving workflows in sorted order")
    func seqPerWorkflow() throws {
        let transaction = MemoryTransaction()
        transaction.lastSeq["b"] = 41
        var events = [makeEvent(workflow: "b"), makeEvent(workflow: "a"), makeEvent(workflow: "b")]
        try SeqStage().apply(&events, in: transaction)
        #expect(events.map(\.seq) == [42, 1, 43])
        #expect(transaction.reservations.map(\.workflow) == ["a", "b"])
        #expect(transaction.reservations.map(\.count) == [1, 2])
    }

    @Test("chain links each unchained event to its session's head and keeps client-chained ones as sent")
    func chainLinks() throws {
        let session = UUID(), other = UUID()
        let transaction = MemoryTransaction()
        transaction.heads[session] = "head-of-session"
        let client = String(repeating: "cd", count: 32)
        var events = [makeEvent(session: session), makeEvent(session: other), makeEvent(session: session, hmac: client), makeEvent(session: session)]
        let stage = ChainStage(secret: "a-secret-of-sixteen-bytes")
        try stage.apply(&events, in: transaction)
        let key = SymmetricKey(data: Data("a-secret-of-sixteen-bytes".utf8))
        #expect(events[0].prevHash == "head-of-session")
        #expect(events[0].hmac == AuditChain.hmac(events[0], key: key))
        #expect(events[1].prevHash == nil)
        #expect(events[1].hmac == AuditChain.hmac(events[1], key: key))
        #expect(events[2].hmac == client)
        #expect(events[3].prevHash == client)
        #expect(events[3].hmac == AuditChain.hmac(events[3], key: key))
        #expect(stage.resources.get(ChainSecret.self)?.value == "a-secret-of-sixteen-bytes")
    }

    @Test("chain normalizes the numbers of events it will chain, and leaves client-chained ones alone")
    func chainPrepare() throws {
        let stage = ChainStage(secret: "a-secret-of-sixteen-bytes")
        let metadata: JSONValue = .object([.init("n", .number("1e2"))])
        let prepared = try stage.prepare(makeEvent(metadata: metadata))
        #expect(prepared.metadata != metadata)
        #expect(prepared.metadata == metadata.pythonNormalized())
        // A client's HMAC is checked over Python's reading of the metadata, which stays as sent.
        var clientChained = makeEvent(metadata: metadata)
        var hashed = clientChained
        hashed.metadata = metadata.pythonNormalized()
        clientChained.hmac = AuditChain.hmac(hashed, key: SymmetricKey(data: Data("a-secret-of-sixteen-bytes".utf8)))
        #expect(try stage.prepare(clientChained).metadata == metadata)
        clientChained.hmac = String(repeating: "ab", count: 32)
        let forged = try #require(throws: EventRejection.self) { try stage.prepare(clientChained) }
        #expect(forged.field == "client_hmac")
        #expect(try ChainStage(secret: "a-secret-of-sixteen-bytes", checkClientHMAC: false).prepare(clientChained).hmac == clientChained.hmac)
    }

    @Test("budget declares that it runs before seq and chain, and needs chain")
    func budgetPlacement() {
        let factories = Dictionary(uniqueKeysWithValues: BuiltInCommitStages.all.map { ($0.type, $0) })
        #expect(CommitStageFactory.placementProblem(["size_cap", "budget", "seq", "chain"], factories: factories) == nil)
        #expect(CommitStageFactory.placementProblem(["seq", "chain"], factories: factories) == nil)
        let late = CommitStageFactory.placementProblem(["size_cap", "seq", "chain", "budget"], factories: factories)
        #expect(late?.problem == "lists budget after seq or chain")
        #expect(late?.fix == "order them e.g. [size_cap, budget, seq, chain]: the alert event budget adds must be numbered and chained")
        let alone = CommitStageFactory.placementProblem(["budget", "seq"], factories: factories)
        #expect(alone?.problem == "lists budget without chain")
        #expect(alone?.fix.hasPrefix("order them e.g. [budget, seq, chain]") == true)
    }
}
