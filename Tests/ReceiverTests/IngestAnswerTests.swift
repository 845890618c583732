import Foundation
import GovernanceTesting
import HTTPTypes
import Pipeline
@testable import Receivers
import Synchronization
import Testing

/// What `ingest_http` answers for each outcome of the pipeline, without a database or a socket.
@Suite("ingest_http answers")
struct IngestAnswerTests {
    @Test("stored is 201 and a duplicate 200, each with the event id and status")
    func storedAndDuplicate() async throws {
        let primary = MemoryPrimary()
        let handler = ingestHandler(memoryPipeline(primary))
        let id = UUID()
        let first = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(id: id))))
        #expect(first.status == 201)
        #expect(first.json["ok"] == .bool(true))
        #expect(first.json["event_id"] == .string(id.lowercasedString))
        #expect(first.json["status"] == .string("stored"))
        let again = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(id: id))))
        #expect(again.status == 200)
        #expect(again.json["status"] == .string("duplicate"))
        #expect(primary.committed.withLock { $0 }.map(\.eventID) == [id])
    }

    @Test("a missing or unknown token is 401 with WWW-Authenticate, and nothing is committed")
    func unauthenticated() async throws {
        let primary = MemoryPrimary()
        let handler = ingestHandler(memoryPipeline(primary))
        let missing = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(), authorization: nil)))
        #expect(missing.status == 401)
        #expect(missing.headers[.wwwAuthenticate] == "Bearer")
        #expect(missing.json["error"] == .string("unauthorized"))
        #expect(missing.json["message"] == .string("missing Authorization: Bearer <wf_ token>"))
        let unknown = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(), authorization: "Bearer wf_unknown")))
        #expect(unknown.status == 401)
        #expect(unknown.json["message"] == .string("unknown or revoked token"))
        #expect(primary.committed.withLock { $0 }.isEmpty)
    }

    @Test("wrong media type is 415, malformed JSON 400, a body over the limit 413, a bad field 400 naming it")
    func malformed() async throws {
        let handler = ingestHandler(memoryPipeline(MemoryPrimary()), maxBodyBytes: 2048)
        let type = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(), contentType: "text/plain")))
        #expect(type.status == 415)
        #expect(type.json["error"] == .string("unsupported_media_type"))
        let json = try await answer(await handler.single(request("/api/v1/ingest/events", "{\"event_id\":")))
        #expect(json.status == 400)
        #expect(json.json["error"] == .string("invalid_json"))
        let big = try await answer(await handler.single(request("/api/v1/ingest/events", String(repeating: " ", count: 4096))))
        #expect(big.status == 413)
        #expect(big.json["error"] == .string("body_too_large"))
        let field = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent(agent: ""))))
        #expect(field.status == 400)
        #expect(field.json["error"] == .string("invalid_field"))
        #expect(field.json["field"] == .string("agent_id"))
    }

    @Test("a pipeline refusal names the field: client_hmac is required without a chain stage, not with one")
    func pipelineRefusal() async throws {
        let refused = try await answer(
            await ingestHandler(memoryPipeline(MemoryPrimary())).single(request("/api/v1/ingest/events", wireEvent(hmac: nil))))
        #expect(refused.status == 400)
        #expect(refused.json["field"] == .string("client_hmac"))
        let chained = try await answer(
            await ingestHandler(memoryPipeline(MemoryPrimary(), chained: true)).single(request("/api/v1/ingest/events", wireEvent(hmac: nil))))
        #expect(chained.status == 201)
    }

    @Test("a primary that cannot commit is 503 with its Retry-After")
    func unavailable() async throws {
        let handler = ingestHandler(memoryPipeline(MemoryPrimary(unavailable: true)))
        let down = try await answer(await handler.single(request("/api/v1/ingest/events", wireEvent())))
        #expect(down.status == 503)
        #expect(down.headers[.retryAfter] == "2")
        #expect(down.json["error"] == .string("unavailable"))
        #expect(down.json["message"] == .string("the test's primary is down"))
    }

    @Test("a batch is 200 with counts and one result per item, in order, each refusal with its status and field")
    func batch() async throws {
        let primary = MemoryPrimary()
        let handler = ingestHandler(memoryPipeline(primary))
        let known = UUID(), fresh = UUID()
        _ = await handler.single(request("/api/v1/ingest/events", wireEvent(id: known)))
        let body = "[\(wireEvent(id: fresh)),\(wireEvent(agent: "")),\(wireEvent(id: known)),\(wireEvent(hmac: nil))]"
        let result = try await answer(await handler.batch(request("/api/v1/ingest/events/batch", body)))
        #expect(result.status == 200)
        #expect(result.json["ok"] == .bool(false))
        #expect(result.json["stored"] == .number("1"))
        #expect(result.json["duplicates"] == .number("1"))
        #expect(result.json["rejected"] == .number("2"))
        guard case .array(let items)? = result.json["results"] else { Issue.record("no results: \(result.json)"); return }
        #expect(items.map { $0["status"] } == [.string("stored"), .string("rejected"), .string("duplicate"), .string("rejected")])
        #expect(items.map { $0["index"] } == (0..<4).map { .number(String($0)) })
        #expect(items[0]["event_id"] == .string(fresh.lowercasedString))
        #expect(items[1]["field"] == .string("agent_id"))
        #expect(items[1]["http_status"] == .number("400"))
        #expect(items[3]["field"] == .string("client_hmac"))
        #expect(primary.committed.withLock { $0 }.map(\.eventID) == [known, fresh])
    }
}
