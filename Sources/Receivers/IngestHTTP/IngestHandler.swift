import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Pipeline

/// Request handling for `ingest_http`: authenticate, check type and size, decode, submit, answer.
/// Every refusal is a precise 4xx with `{"ok":false,"error":..., "field":..., "message":...}`.
struct IngestHandler: Sendable {
    let config: IngestHTTPConfig
    let pipeline: Pipeline
    let metrics: ReceiverMetrics
    let inFlight: InFlightBudget
    let logger: Logger

    /// A refusal of the whole request.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var code: String
        var message: String
        var field: String?
        var headers: HTTPFields = [:]

        var response: Response {
            var body: [String: JSONValue] = ["ok": .bool(false), "error": .string(code), "message": .string(message)]
            if let field { body["field"] = .string(field) }
            return IngestHandler.json(status, body, headers: headers)
        }
    }

    func single(_ request: Request) async -> Response {
        do {
            let workflow = try authenticate(request)
            try requireContentType(request, allowed: ["application/json"])
            let (body, reservation) = try await readBody(request, limit: config.maxBodyBytes)
            defer { reservation.release() }
            let json = try parse { () throws(JSONParseError) in try JSONParser.parse(body) }
            let event: AuditEvent
            do {
                event = try WireFormat.decode(json, workflow: workflow, receivedAt: .now())
            } catch {
                throw Refusal(
                    status: .init(code: error.status), code: "invalid_field", message: "\(error.field) \(error.message)", field: error.field)
            }
            let outcome = try await submit([event])[0]
            switch outcome {
            case .stored:
                return Self.json(
                    .created,
                    members: [
                        .init("ok", .bool(true)), .init("event_id", .string(event.eventID.lowercasedString)), .init("status", .string("stored")),
                    ])
            case .duplicate:
                return Self.json(
                    .ok,
                    members: [
                        .init("ok", .bool(true)), .init("event_id", .string(event.eventID.lowercasedString)), .init("status", .string("duplicate")),
                    ])
            case .rejected(let r):
                throw Refusal(
                    status: .init(code: r.status), code: r.status == 409 ? "conflict" : "invalid_field", message: "\(r.field) \(r.message)",
                    field: r.field)
            }
        } catch let refusal as Refusal {
            return refusal.response
        } catch {
            return Refusal(status: .internalServerError, code: "internal", message: "\(error)").response
        }
    }

    func batch(_ request: Request) async -> Response {
        do {
            let workflow = try authenticate(request)
            let type = try requireContentType(request, allowed: ["application/json", "application/x-ndjson", "application/jsonl"])
            let (reservation, decoded) = try await readBatch(request, type: type, workflow: workflow)
            defer { reservation.release() }
            var (events, eventIndex, results) = (decoded.events, decoded.eventIndex, decoded.results)
            let itemCount = results.count
            var counts = (stored: 0, duplicate: 0, rejected: itemCount - events.count)
            if !events.isEmpty {
                let outcomes = try await submit(events)
                for (position, outcome) in outcomes.enumerated() {
                    switch outcome {
                    case .stored: counts.stored += 1
                    case .duplicate: counts.duplicate += 1
                    case .rejected: counts.rejected += 1
                    }
                    let index = eventIndex[position]
                    results[index] = Self.result(index: index, eventID: events[position].eventID.lowercasedString, outcome: outcome)
                }
            }
            return Self.json(
                .ok,
                [
                    "ok": .bool(counts.rejected == 0),
                    "stored": .number(String(counts.stored)),
                    "duplicates": .number(String(counts.duplicate)),
                    "rejected": .number(String(counts.rejected)),
                    "results": .array(results.map { $0! }),
                ])
        } catch {
            return error.response
        }
    }

    /// A batch's events (and the results of those that did not decode), read and decoded in a
    /// scope of their own: the body and its JSON trees are freed before the commit, which is
    /// most of a large batch's memory.
    private func readBatch(_ request: Request, type: String, workflow: String) async throws(Refusal)
        -> (InFlightBudget.Reservation, (events: [AuditEvent], eventIndex: [Int], results: [JSONValue?]))
    {
        let (body, reservation) = try await readBody(request, limit: config.maxBatchBodyBytes)
        let items: [JSONValue]
        if type == "application/json" {
            let json = try parse { () throws(JSONParseError) in try JSONParser.parse(body) }
            guard case .array(let array) = json else {
                throw Refusal(status: .badRequest, code: "invalid_body", message: "a batch must be a JSON array of events (or NDJSON)")
            }
            items = array
        } else {
            items = try parse { () throws(JSONParseError) in try JSONParser.parseLines(body) }
        }
        guard items.count <= config.maxBatchEvents else {
            throw Refusal(
                status: .contentTooLarge, code: "too_many_events",
                message: "a batch holds at most \(config.maxBatchEvents) events, this one has \(items.count)")
        }
        guard !items.isEmpty else { throw Refusal(status: .badRequest, code: "invalid_body", message: "the batch is empty") }
        var results = [JSONValue?](repeating: nil, count: items.count)
        var events: [AuditEvent] = []
        var eventIndex: [Int] = []
        let now = Timestamp.now()
        for (index, item) in items.enumerated() {
            do {
                events.append(try WireFormat.decode(item, workflow: workflow, receivedAt: now))
                eventIndex.append(index)
            } catch {
                results[index] = Self.result(index: index, eventID: item["event_id"]?.stringValue, outcome: .rejected(error))
            }
        }
        return (reservation, (events, eventIndex, results))
    }

    // MARK: Steps

    func authenticate(_ request: Request) throws(Refusal) -> String {
        guard let workflow = config.listener.tokens.workflow(forAuthorization: request.headers[.authorization], managed: pipeline.managedTokens)
        else {
            let missing = request.headers[.authorization] == nil
            throw Refusal(
                status: .unauthorized, code: "unauthorized",
                message: missing ? "missing Authorization: Bearer <wf_ token>" : "unknown or revoked token",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        return workflow
    }

    @discardableResult
    func requireContentType(_ request: Request, allowed: [String]) throws(Refusal) -> String {
        let type = contentMediaType(request.headers[.contentType])
        guard allowed.contains(type) else {
            throw Refusal(
                status: .unsupportedMediaType, code: "unsupported_media_type",
                message: "Content-Type is `\(request.headers[.contentType] ?? "")`; send \(allowed.joined(separator: " or "))")
        }
        return type
    }

    /// The body, read only after its size (Content-Length, else `limit`) was reserved from the
    /// in-flight budget; the reservation is held until the request is answered.
    func readBody(_ request: Request, limit: Int) async throws(Refusal) -> ([UInt8], InFlightBudget.Reservation) {
        let tooLarge = Refusal(status: .contentTooLarge, code: "body_too_large", message: "the body exceeds \(limit) bytes")
        let length = request.headers[.contentLength].flatMap(Int.init)
        if let length, length > limit { throw tooLarge }
        guard let reservation = inFlight.reserve(forBody: length ?? limit) else {
            throw Refusal(
                status: .serviceUnavailable, code: "overloaded",
                message:
                    "the collector is at its memory budget for requests in flight (service.in_flight_limit_mib = \(inFlight.limit >> 20)); retry",
                headers: [.retryAfter: "1"])
        }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            if length == nil { _ = reservation.resize(forBody: buffer.readableBytes) }
            return (Array(buffer.readableBytesView), reservation)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        } catch {
            throw Refusal(status: .badRequest, code: "invalid_body", message: "the body could not be read: \(error)")
        }
    }

    func parse<T>(_ body: () throws(JSONParseError) -> T) throws(Refusal) -> T {
        do {
            return try body()
        } catch {
            throw Refusal(status: .badRequest, code: "invalid_json", message: error.description)
        }
    }

    private func submit(_ events: [AuditEvent]) async throws(Refusal) -> [EventOutcome] {
        do {
            let outcomes = try await pipeline.submit(events)
            metrics.record(outcomes)
            return outcomes
        } catch {
            logger.debug("ingest_http.unavailable", metadata: ["reason": "\(error.reason)"])
            throw Refusal(
                status: .serviceUnavailable, code: "unavailable", message: error.reason,
                headers: [.retryAfter: String(error.retryAfterSeconds)])
        }
    }

    // MARK: Responses

    static func result(index: Int, eventID: String?, outcome: EventOutcome) -> JSONValue {
        var members: [JSONValue.Member] = [.init("index", .number(String(index)))]
        if let eventID { members.append(.init("event_id", .string(eventID))) }
        switch outcome {
        case .stored: members.append(.init("status", .string("stored")))
        case .duplicate: members.append(.init("status", .string("duplicate")))
        case .rejected(let r):
            members.append(.init("status", .string("rejected")))
            members.append(.init("http_status", .number(String(r.status))))
            members.append(.init("field", .string(r.field)))
            members.append(.init("message", .string("\(r.field) \(r.message)")))
        }
        return .object(members)
    }

    static func json(_ status: HTTPResponse.Status, _ fields: [String: JSONValue], headers: HTTPFields = [:]) -> Response {
        let order = ["ok", "error", "field", "message", "event_id", "status", "postgres", "stored", "duplicates", "rejected", "results"]
        let members = fields.sorted { (order.firstIndex(of: $0.key) ?? 99) < (order.firstIndex(of: $1.key) ?? 99) }
            .map { JSONValue.Member($0.key, $0.value) }
        return json(status, members: members, headers: headers)
    }

    /// A JSON answer with its members in the given order.
    static func json(_ status: HTTPResponse.Status, members: [JSONValue.Member], headers: HTTPFields = [:]) -> Response {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(96)
        JSONValue.object(members).write(into: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        var allHeaders = headers
        allHeaders[.contentType] = "application/json"
        return Response(status: status, headers: allHeaders, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
