import Config
import Pipeline
import Testing
@testable import Processors

@Suite("redaction processor")
struct RedactionProcessorTests {
    let secretMetadata = JSONValue.object([
        .init("error", .string("could not connect to postgres://app:pw@db/prod")),
        .init("password", .string("hunter2")),
    ])

    @Test func egressByDefaultAndIngestWhenLocal() throws {
        #expect(try build(RedactionProcessor.factory).stage == .egress)
        #expect(try build(RedactionProcessor.factory, "local: true").stage == .ingest)
        #expect(try build(RedactionProcessor.factory, "local: false").stage == .egress)
    }

    @Test func redactsMetadataAndModelButNotIdsOrHashes() throws {
        let processor = RedactionProcessor()
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let event = makeEvent(
            agentID: "agent-sk-abcdefghijklmnopqrstu", kind: "tool.call",
            model: "proxy Bearer abc123def456ghi789", inputHash: "sk-abcdefghijklmnopqrstuvwx",
            outputHash: hash, metadata: secretMetadata)
        let out = try processor.process(event)
        #expect(out.metadata.serialized() == #"{"error":"could not connect to [REDACTED:dsn]","password":"[REDACTED:credential]"}"#)
        #expect(out.model == "proxy Bearer [REDACTED:bearer_token]")
        #expect(out.agentID == event.agentID)
        #expect(out.inputHash == event.inputHash)
        #expect(out.outputHash == hash)
        #expect(out.eventID == event.eventID)
        #expect(processor.counters.snapshot == ["dsn": 1, "credential": 1, "bearer_token": 1])
    }

    @Test func egressRedactsCopiesOfClientChainedEventsToo() throws {
        let processor = try build(RedactionProcessor.factory)
        let out = try processor.process(makeEvent(metadata: secretMetadata, hmac: clientHMAC))
        #expect(out.metadata != secretMetadata)
        #expect(out.hmac == clientHMAC)
    }

    @Test func localLeavesClientChainedEventsUntouched() throws {
        let processor = try #require(try build(RedactionProcessor.factory, "local: true") as? RedactionProcessor)
        let chained = makeEvent(model: "sk-abcdefghijklmnopqrstu", metadata: secretMetadata, hmac: clientHMAC)
        let out = try processor.process(chained)
        #expect(out == chained)
        #expect(out.metadata.serialized() == secretMetadata.serialized())
        #expect(processor.counters.total == 0)
        // Without a client HMAC the collector chains after redaction, so the stored row is redacted.
        let unchained = try processor.process(makeEvent(metadata: secretMetadata))
        #expect(unchained.metadata["password"] == .string("[REDACTED:credential]"))
        #expect(processor.counters.total == 2)
    }

    @Test func cleanEventsAreReturnedAsIs() throws {
        let processor = RedactionProcessor()
        let event = makeEvent(model: "claude-sonnet-4", metadata: .object([.init("note", .string("all good")), .init("n", .number("1.0"))]))
        #expect(try processor.process(event) == event)
        #expect(processor.counters.snapshot.isEmpty)
    }

    @Test func countersAreSharedAndThreadSafe() async throws {
        let processor = RedactionProcessor()
        let event = makeEvent(metadata: secretMetadata)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<250 { _ = try? processor.process(event) } }
            }
        }
        #expect(processor.counters.snapshot == ["dsn": 2000, "credential": 2000])
        #expect(processor.counters.total == 4000)
    }

    @Test func registeredInBuiltInProcessors() {
        let types = BuiltInProcessors.all.map(\.type)
        for type in ["size_cap", "sanitize", "redaction"] { #expect(types.contains(type)) }
    }
}
