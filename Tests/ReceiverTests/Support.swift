import Foundation
import GovernanceTesting
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import Pipeline
@testable import Receivers
import Synchronization

let token = "wf_receiver_unit_test_token_0001"

/// A pipeline over an in-memory primary (no database: these tests check what a receiver
/// answers for each outcome; CollectorTests check the same answers over PostgreSQL and sockets).
/// `chained`: a stage that assigns HMACs, so events without `client_hmac` are storable.
func memoryPipeline(_ primary: MemoryPrimary, chained: Bool = false) -> Pipeline {
    Pipeline(name: "audit", commitStages: chained ? [("chain", AssignsHMAC())] : [], primary: primary)
}

/// Stands in for `chain` (which lives in CommitStages): fills `hmac`, nothing else.
struct AssignsHMAC: CommitStage {
    var resources: SharedResources {
        var shared = SharedResources()
        shared.provide(ChainSecret("test-secret-of-sixteen-bytes"))
        return shared
    }
    func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
        for index in events.indices where events[index].hmac == nil { events[index].hmac = String(repeating: "0", count: 64) }
    }
}

/// `ingest_http`'s handler with one token for workflow `wf`, as the receiver builds it.
func ingestHandler(_ pipeline: Pipeline, maxBodyBytes: Int = 1 << 20) -> IngestHandler {
    var config = IngestHTTPConfig()
    config.listener.tokens = WorkflowTokens([(workflow: "wf", sha256: IngestToken.digest(token))])
    config.maxBodyBytes = maxBodyBytes
    return IngestHandler(
        config: config, pipeline: pipeline, metrics: ReceiverMetrics(.disabled, receiver: "ingest_http"),
        inFlight: .unlimited, logger: Logger(label: "test"))
}

/// A request as Hummingbird hands it to a route.
func request(_ path: String, _ body: String, authorization: String? = "Bearer \(token)", contentType: String = "application/json") -> Request {
    var fields = HTTPFields()
    if let authorization { fields[.authorization] = authorization }
    fields[.contentType] = contentType
    fields[.contentLength] = String(body.utf8.count)
    let head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: path, headerFields: fields)
    return Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body)))
}

/// A response's status, headers and JSON body.
struct Answer {
    var status: Int
    var headers: HTTPFields
    var json: JSONValue
}

func answer(_ response: Response) async throws -> Answer {
    let sink = BodySink()
    try await response.body.write(sink)
    return Answer(status: response.status.code, headers: response.headers, json: try JSONParser.parse(sink.bytes.withLock { $0 }))
}

/// Collects a response body.
final class BodySink: ResponseBodyWriter, Sendable {
    let bytes = Mutex<[UInt8]>([])
    func write(_ buffer: ByteBuffer) async throws { bytes.withLock { $0 += Array(buffer.readableBytesView) } }
    func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws { for buffer in buffers { try await write(buffer) } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// One event in the platform's wire format (the SDK bridge's body).
func wireEvent(id: UUID = UUID(), agent: String = "agent-1", hmac: String? = "abcdef0123456789") -> String {
    """
    {"event_id":"\(id.lowercasedString)","event_type":"tool.call","agent_id":"\(agent)","seq":1,\
    "payload":{"session_id":"\(UUID().lowercasedString)","kind":"tool.call","created_at":"2026-11-24T12:00:00.000120+00:00",\
    "metadata":{"n":1},"signature_status":"unsigned"},"prev_hash":""\(hmac.map { #","client_hmac":"\#($0)""# } ?? ""),"sdk_version":"0.7.3"}
    """
}
