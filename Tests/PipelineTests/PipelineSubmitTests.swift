import Foundation
import GovernanceTesting
@testable import Pipeline
import Synchronization
import Testing

/// `Pipeline.submit` with an in-memory primary and secondaries: what each component sees and
/// what the receiver is told, without a database (CollectorTests run the same path on PostgreSQL).
@Suite("Pipeline.submit")
struct PipelineSubmitTests {
    @Test("processors run in order, a refused event is not committed, stored events reach secondaries after egress")
    func fullPath() async throws {
        let primary = MemoryPrimary()
        let secondary = MemorySecondary(), reader = MemoryStoreReader()
        let pipeline = Pipeline(
            name: "audit",
            processors: [("tag/a", Tagging(tag: "a")), ("tag/b", Tagging(tag: "b")), ("refuse", Refusing(kind: "refused.kind"))],
            commitStages: [("stage", TaggingStage(secret: "s"))],
            egress: Egress(pipeline: "audit", processors: [("redact", Redacting())], telemetry: .disabled),
            primary: primary, secondaries: [secondary], storeReaders: [reader])
        let events = [event(kind: "tool.call"), event(kind: "refused.kind"), event(kind: "tool.call")]
        let outcomes = try await pipeline.submit(events)
        #expect(outcomes == [.stored, .rejected(EventRejection(field: "payload.kind", message: "is refused")), .stored])

        let committed = primary.committed.withLock { $0 }
        #expect(committed.map(\.eventID) == [events[0].eventID, events[2].eventID])
        // Ingest processors in configured order, then the stage's prepare, then (in the commit) its apply.
        #expect(committed.map { $0.metadata["order"] } == Array(repeating: .string("a,b,prepared,applied"), count: 2))
        #expect(primary.stagesKeys.withLock { $0 } == ["audit"])

        let exported = secondary.received.withLock { $0 }
        #expect(exported.map(\.eventID) == committed.map(\.eventID))
        #expect(exported.allSatisfy { $0.metadata["secret"] == .string("[redacted]") })
        #expect(committed.allSatisfy { $0.metadata["secret"] == .string("value") })
        #expect(reader.commits.withLock { $0 } == 1)
    }

    @Test("duplicates are acknowledged but not exported; a batch of only duplicates wakes no store reader")
    func duplicates() async throws {
        let known = event(kind: "tool.call")
        let primary = MemoryPrimary(duplicates: [known.eventID])
        let secondary = MemorySecondary(), reader = MemoryStoreReader()
        let pipeline = Pipeline(
            name: "audit", commitStages: [("stage", TaggingStage(secret: "s"))],
            primary: primary, secondaries: [secondary], storeReaders: [reader])
        #expect(try await pipeline.submit([known]) == [.duplicate])
        #expect(secondary.received.withLock { $0 }.isEmpty)
        #expect(reader.commits.withLock { $0 } == 0)
    }

    @Test("an egress refusal drops only the outgoing copy")
    func egressRefusal() async throws {
        let primary = MemoryPrimary(), secondary = MemorySecondary()
        let pipeline = Pipeline(
            name: "audit", commitStages: [("stage", TaggingStage(secret: "s"))],
            egress: Egress(pipeline: "audit", processors: [("refuse", Refusing(kind: "private.kind", stage: .egress))], telemetry: .disabled),
            primary: primary, secondaries: [secondary])
        let events = [event(kind: "private.kind"), event(kind: "tool.call")]
        #expect(try await pipeline.submit(events) == [.stored, .stored])
        #expect(primary.committed.withLock { $0 }.count == 2)
        #expect(secondary.received.withLock { $0 }.map(\.eventID) == [events[1].eventID])
    }

    @Test("without a stage that assigns HMACs, an event without client_hmac is refused naming the field")
    func hmacRequired() async throws {
        let primary = MemoryPrimary()
        let pipeline = Pipeline(name: "audit", primary: primary)
        let outcome = try await pipeline.submit([event(kind: "tool.call")])
        guard case .rejected(let rejection) = outcome.first else { Issue.record("not rejected: \(outcome)"); return }
        #expect(rejection.field == "client_hmac")
        #expect(primary.committed.withLock { $0 }.isEmpty)
    }

    @Test("a primary that cannot commit makes submit throw, and nothing goes out")
    func unavailable() async throws {
        let primary = MemoryPrimary(duplicates: [], unavailable: true), secondary = MemorySecondary()
        let pipeline = Pipeline(name: "audit", commitStages: [("stage", TaggingStage(secret: "s"))], primary: primary, secondaries: [secondary])
        await #expect(throws: PipelineUnavailable.self) { try await pipeline.submit([event(kind: "tool.call")]) }
        #expect(secondary.received.withLock { $0 }.isEmpty)
    }
}

func event(kind: String) -> AuditEvent {
    AuditEvent(
        eventID: UUID(), sessionID: UUID(), agentID: "agent-1", kind: kind,
        metadata: .object([.init("secret", .string("value"))]), createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: "wf")
}

extension AuditEvent {
    /// Appends `step` to metadata `order` (a comma-separated trace of who touched the event).
    func touched(_ step: String) -> AuditEvent {
        var copy = self
        let before = metadata["order"]?.stringValue
        copy.metadata = metadata.setting("order", .string(before.map { "\($0),\(step)" } ?? step))
        return copy
    }
}

struct Tagging: EventProcessor {
    let tag: String
    func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent { event.touched(tag) }
}

struct Refusing: EventProcessor {
    let kind: String
    var stage: ProcessorStage = .ingest
    func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        if event.kind == kind { throw EventRejection(field: "payload.kind", message: "is refused") }
        return event
    }
}

struct Redacting: EventProcessor {
    var stage: ProcessorStage { .egress }
    func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        var copy = event
        copy.metadata = event.metadata.setting("secret", .string("[redacted]"))
        return copy
    }
}

/// A stage that says it assigns HMACs and marks what it did (prepare on the request, apply in the commit).
struct TaggingStage: CommitStage {
    let resources: SharedResources
    init(secret: String) {
        var shared = SharedResources()
        shared.provide(ChainSecret(secret))
        resources = shared
    }
    func prepare(_ event: AuditEvent) throws(EventRejection) -> AuditEvent { event.touched("prepared") }
    func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
        for index in events.indices { events[index] = events[index].touched("applied") }
    }
}

extension JSONValue {
    /// This object with `key` set to `value` (replaced in place, else appended).
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let index = members.firstIndex(where: { $0.key == key }) { members[index].value = value } else { members.append(.init(key, value)) }
        return .object(members)
    }
}
