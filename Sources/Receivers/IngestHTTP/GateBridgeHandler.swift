import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Pipeline

/// The reference SDK's gate bridge (0.7.1+), served at the root of the ingest listener because
/// the SDK builds these paths from the ingest URL's scheme, host and port only:
/// - `POST /api/v1/bridge/gates/{id}`: a gate was opened (201; 409 when already recorded, which
///   the SDK also takes as "the platform has it");
/// - `GET /api/v1/bridge/gates/{id}/resolution`: `{"status", "decided_at"}`, never the reason;
///   404 when this workflow has no such gate (the SDK reads it as pending);
/// - `POST /api/v1/bridge/gates/{id}/resolution`: the SDK resolved it locally; idempotent.
/// Only a bad token is answered 401: the SDK switches its whole bridge off, event ingest
/// included, on any 401 or 402 from these routes.
struct GateBridgeHandler: Sendable {
    static let gatePath = "/api/v1/bridge/gates/:request_id"
    static let resolutionPath = "/api/v1/bridge/gates/:request_id/resolution"
    /// A gate's body is a few short fields.
    static let maxBodyBytes = 16 << 10

    let ingest: IngestHandler
    /// nil when the pipeline's primary keeps no gates (not PostgreSQL).
    let gates: (any ApprovalGates)?

    typealias Refusal = IngestHandler.Refusal

    func open(_ request: Request, _ id: String?) async -> Response {
        await answer { () async throws(Refusal) -> Response in
            let (workflow, gates, requestID) = try prepare(request, id)
            let body = try await jsonBody(request)
            let gate = try Self.gate(body, requestID: requestID)
            guard try await available({ () async throws(PipelineUnavailable) in try await gates.open(gate, workflow: workflow) }) else {
                return IngestHandler.json(
                    .conflict,
                    ["ok": .bool(false), "error": .string("conflict"), "message": .string("gate \(id ?? "") is already recorded")])
            }
            return IngestHandler.json(.created, ["ok": .bool(true), "status": .string("pending")])
        }
    }

    func resolution(_ request: Request, _ id: String?) async -> Response {
        await answer { () async throws(Refusal) -> Response in
            let (workflow, gates, requestID) = try prepare(request, id)
            guard
                let resolution = try await available({ () async throws(PipelineUnavailable) in
                    try await gates.resolution(of: requestID, workflow: workflow)
                })
            else { throw Self.unknown(id) }
            return IngestHandler.json(
                .ok,
                members: [
                    .init("status", .string(resolution.decision?.rawValue ?? "pending")),
                    .init("decided_at", resolution.decidedAt.map { .string(Self.utcZ($0)) } ?? .null),
                ])
        }
    }

    func resolvedLocally(_ request: Request, _ id: String?) async -> Response {
        await answer { () async throws(Refusal) -> Response in
            let (workflow, gates, requestID) = try prepare(request, id)
            let body = try await jsonBody(request)
            guard let decision = body["decision"]?.stringValue.flatMap(GateDecision.init(rawValue:)) else {
                throw Self.invalid("decision", "must be \"granted\" or \"denied\"")
            }
            guard let decidedAt = body["decided_at"]?.stringValue.flatMap(Timestamp.init(iso8601:)) else {
                throw Self.invalid("decided_at", "must be an RFC 3339 time with an offset, e.g. 2026-04-19T12:34:56Z")
            }
            guard body["by"]?.stringValue == "sdk_local" else { throw Self.invalid("by", "must be \"sdk_local\"") }
            let outcome = try await available({ () async throws(PipelineUnavailable) in
                try await gates.resolvedBySDK(requestID, workflow: workflow, decision: decision, decidedAt: decidedAt)
            })
            switch outcome {
            case .decided: return IngestHandler.json(.ok, ["ok": .bool(true), "status": .string(decision.rawValue)])
            // The first decision stands; a repeated or later one is a no-op, as the SDK expects.
            case .alreadyDecided(let verdict): return IngestHandler.json(.ok, ["ok": .bool(true), "status": .string(verdict.rawValue)])
            case .expired, .unknown: throw Self.unknown(id)
            }
        }
    }

    // MARK: Steps

    /// The workflow (a bad token is the only 401), the gates, and the path's request id.
    private func prepare(_ request: Request, _ id: String?) throws(Refusal) -> (String, any ApprovalGates, UUID) {
        let workflow = try ingest.authenticate(request)
        guard let gates else {
            throw Refusal(
                status: .notFound, code: "not_served",
                message: "approval gates are kept in the pipeline's PostgreSQL, and this pipeline's primary exporter is not postgres")
        }
        guard let id, let requestID = UUID(uuidString: id) else { throw Self.invalid("request_id", "in the path must be a UUID") }
        return (workflow, gates, requestID)
    }

    private func jsonBody(_ request: Request) async throws(Refusal) -> JSONValue {
        try ingest.requireContentType(request, allowed: ["application/json"])
        let (bytes, reservation) = try await ingest.readBody(request, limit: Self.maxBodyBytes)
        defer { reservation.release() }
        let json = try ingest.parse { () throws(JSONParseError) in try JSONParser.parse(bytes) }
        guard case .object = json else { throw Refusal(status: .badRequest, code: "invalid_body", message: "the body must be a JSON object") }
        return json
    }

    /// The SDK's gate body: every field checked, each refusal naming it.
    static func gate(_ body: JSONValue, requestID: UUID) throws(Refusal) -> GateRequest {
        func text(_ field: String, limit: Int = 256) throws(Refusal) -> String {
            guard let value = body[field]?.stringValue, !value.isEmpty else { throw invalid(field, "is required (a non-empty string)") }
            guard value.utf8.count <= limit else { throw invalid(field, "is longer than \(limit) bytes") }
            return value
        }
        guard try text("request_id").lowercased() == requestID.uuidString.lowercased() else {
            throw invalid("request_id", "does not match the request id in the path")
        }
        let actionHash = try text("action_hash")
        guard actionHash.utf8.count == 64, actionHash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw invalid("action_hash", "must be 64 lowercase hex digits (the SHA-256 of the action)")
        }
        guard let expiresAt = Timestamp(iso8601: try text("expires_at")) else {
            throw invalid("expires_at", "must be an RFC 3339 time with an offset, e.g. 2026-04-19T12:34:56Z")
        }
        return GateRequest(
            requestID: requestID, agentID: try text("agent_id"), kind: try text("kind"), actionHash: actionHash, expiresAt: expiresAt,
            sdkVersion: try text("sdk_version", limit: 64))
    }

    private func available<T>(_ call: () async throws(PipelineUnavailable) -> T) async throws(Refusal) -> T {
        do {
            return try await call()
        } catch {
            ingest.logger.debug("gates.unavailable", metadata: ["reason": "\(error.reason)"])
            throw Refusal(
                status: .serviceUnavailable, code: "unavailable", message: error.reason, headers: [.retryAfter: String(error.retryAfterSeconds)])
        }
    }

    private func answer(_ body: () async throws(Refusal) -> Response) async -> Response {
        do {
            return try await body()
        } catch {
            return error.response
        }
    }

    static func invalid(_ field: String, _ problem: String) -> Refusal {
        Refusal(status: .badRequest, code: "invalid_field", message: "\(field) \(problem)", field: field)
    }

    /// 404 for a gate this workflow does not have, whether or not another workflow has one with
    /// this id: nothing tells a workflow what another holds.
    static func unknown(_ id: String?) -> Refusal {
        Refusal(status: .notFound, code: "not_found", message: "this workflow has no gate \(id ?? "")")
    }

    /// `2026-04-19T12:34:56.789012Z`, the form the SDK sends.
    static func utcZ(_ time: Timestamp) -> String {
        var text = time.pythonISOFormat
        text.removeLast("+00:00".count)
        return text + "Z"
    }
}
