package import AuditStore
import Foundation
import OpenAPIRuntime
package import Pipeline
import Synchronization
import Transparency

/// Who is reading, as the UI decided it from the request's credentials; set around each call
/// by the UI's API access middleware, read by every handler.
package struct APIReader: Sendable {
    package var name: String
    /// The workflows the reader may read; nil is every workflow.
    package var workflows: [String]?
    /// Records an `access.*` event of this reader: its kind without the prefix, and details.
    package var record: @Sendable (_ kind: String, _ details: [JSONValue.Member]) async -> Void

    package init(name: String, workflows: [String]?, record: @escaping @Sendable (String, [JSONValue.Member]) async -> Void) {
        (self.name, self.workflows, self.record) = (name, workflows, record)
    }

    @TaskLocal package static var current: APIReader?
}

/// The read API's handlers: `openapi.yaml` is the contract, and swift-openapi-generator makes the
/// types, the request decoding and the routes from it (`APIProtocol`). Reads go through the
/// store's typed readers (`EventReads`, `EventExport`, `EventRollup`) with the reader's scope as
/// a condition of each query, as the UI's pages do.
package struct ReadAPI: APIProtocol {
    /// Reads, on the standby of `ui.read_dsn` while it answers, else the primary.
    let pool: StandbyReads
    /// A connection of its own for each NDJSON stream (one snapshot, read a page at a time).
    let streamWorker: @Sendable () -> PGWorker
    private let streams = StreamCount()

    package static let defaultPageSize = 100
    package static let maxPageSize = 1000
    /// NDJSON streams at once, each holding a connection: more are answered 503.
    package static let maxStreams = 2
    /// The most events a session answer lists.
    package static let sessionLimit = 2000

    /// The OpenAPI document, as the collector serves it.
    package static var document: [UInt8] { PackageResources.openapi_yaml }

    /// The document's paths (`/events/{event_id}`), for answering other methods on them with 405.
    package static let paths: [String] = String(decoding: document, as: UTF8.self).split(separator: "\n")
        .filter { $0.hasPrefix("  /") && $0.hasSuffix(":") }.map { String($0.dropFirst(2).dropLast()) }

    /// A UUID as the document's `format: uuid` means it: 36 characters, hex digits and dashes at
    /// 8, 13, 18 and 23 (the parser of ids accepts more spellings, which the document does not promise).
    static func isCanonicalUUID(_ text: String) -> Bool {
        let characters = Array(text.utf8)
        return characters.count == 36
            && characters.enumerated().allSatisfy { index, c in
                [8, 13, 18, 23].contains(index) ? c == UInt8(ascii: "-") : (c >= 48 && c <= 57) || (c | 0x20 >= 97 && c | 0x20 <= 102)
            }
    }

    package init(pool: StandbyReads, streamWorker: @escaping @Sendable () -> PGWorker) {
        self.pool = pool
        self.streamWorker = streamWorker
    }

    package func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        let query = input.query
        let fields: [String: String?] = [
            "workflow": query.workflow, "agent": query.agent, "kind": query.kind, "decision": query.decision?.rawValue, "model": query.model,
            "session": query.session, "meta": query.meta, "q": query.q, "from": query.from, "to": query.to, "before": query.cursor,
        ]
        if let session = query.session, !Self.isCanonicalUUID(session) {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("session is not a UUID", parameter: "session"))))
        }
        var (filter, problems) = EventFilter.parse(fields.compactMapValues { $0 })
        if let problem = problems.first {
            // EventFilter names the parameter first; the API calls the timeline's `before` `cursor`.
            let name = String(problem.prefix { $0 != " " })
            let parameter = name == "before" ? "cursor" : name
            let detail = name == "before" ? "cursor is not a page cursor (use next_cursor as it was given)" : problem
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest(detail, parameter: parameter))))
        }
        let limit = query.limit ?? Self.defaultPageSize
        guard (1...Self.maxPageSize).contains(limit) else {
            return .badRequest(
                .init(body: .applicationProblemJson(Problems.badRequest("limit must be 1 to \(Self.maxPageSize)", parameter: "limit"))))
        }
        filter.workflows = reader.workflows
        let asked = filter.queryItems.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        if input.headers.accept.sortedByQuality().first?.contentType == .applicationXNdjson {
            guard streams.enter() else {
                return .serviceUnavailable(
                    .init(body: .applicationProblemJson(Problems.unavailable("\(Self.maxStreams) NDJSON streams are running; try again shortly"))))
            }
            // Made now, so the place is given back and the read recorded however the stream ends,
            // even if the body is never read (the client went away before the answer began).
            let ending = StreamPages.Ending(count: streams) { rows, completed in
                await reader.record(
                    "exported",
                    [
                        .init("filter", .string(asked)), .init("format", .string("ndjson")), .init("completed", .bool(completed)),
                        .init("rows", .number(String(rows))), .init("via", .string("api")),
                    ])
            }
            let pages = EventExport(format: .ndjson, filter: filter).pages(via: streamWorker())
            let body = HTTPBody(StreamPages(pages: pages, ending: ending), length: .unknown, iterationBehavior: .single)
            return .ok(.init(body: .applicationXNdjson(body)))
        }
        let page: (events: [AuditEvent], more: Bool)
        let scoped = filter
        do {
            page = try await pool.run { try EventReads.page(scoped, size: limit, on: $0) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
        // One search, recorded at its first page (paging on is the same search), as the UI does.
        if query.cursor == nil {
            await reader.record(
                "searched",
                [.init("filter", .string(asked)), .init("rows", .number(String(page.events.count))), .init("via", .string("api"))])
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        events: try page.events.map(Self.event),
                        nextCursor: page.more ? page.events.last.map { EventFilter.Cursor($0).text } : nil))))
    }

    package func getEvent(_ input: Operations.GetEvent.Input) async throws -> Operations.GetEvent.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        guard Self.isCanonicalUUID(input.path.eventId), let id = UUID(text: input.path.eventId) else {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("event_id is not a UUID", parameter: "event_id"))))
        }
        let detail: EventReads.Detail?
        do {
            detail = try await pool.run { try EventReads.detail(id, workflows: reader.workflows, on: $0) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
        // Another workflow's event is answered exactly as one that does not exist.
        guard let detail, reader.workflows.map({ $0.contains(detail.event.workflow) }) ?? true else {
            return .notFound(.init(body: .applicationProblemJson(Problems.notFound("no event has that id"))))
        }
        await reader.record(
            "event_viewed",
            [.init("event_id", .string(id.lowercasedString)), .init("event_workflow", .string(detail.event.workflow)), .init("via", .string("api"))])
        return .ok(
            .init(
                body: .json(
                    .init(
                        event: try Self.event(detail.event), chainSeq: detail.chainSeq, receivedAt: detail.receivedAt,
                        positionInSession: detail.positionInSession, sessionLength: detail.sessionLength))))
    }

    package func getSession(_ input: Operations.GetSession.Input) async throws -> Operations.GetSession.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        guard Self.isCanonicalUUID(input.path.sessionId), let id = UUID(text: input.path.sessionId) else {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("session_id is not a UUID", parameter: "session_id"))))
        }
        let session: (events: [EventReads.SessionEvent], total: Int)
        do {
            session = try await pool.run { try EventReads.session(id, limit: Self.sessionLimit, workflows: reader.workflows, on: $0) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
        guard session.total > 0 else { return .notFound(.init(body: .applicationProblemJson(Problems.notFound("no session has that id")))) }
        await reader.record("session_viewed", [.init("session_id", .string(id.lowercasedString)), .init("via", .string("api"))])
        return .ok(
            .init(
                body: .json(
                    .init(
                        sessionId: id.lowercasedString, total: session.total, truncated: session.total > session.events.count,
                        events: try session.events.map { try Self.event($0.event) }))))
    }

    package func listWorkflows(_ input: Operations.ListWorkflows.Input) async throws -> Operations.ListWorkflows.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        let totals: [(workflow: String, events: Int64, lastDay: String)]
        do {
            totals = try await pool.run { connection throws(PGError) in try EventRollup.workflowTotals(workflows: reader.workflows, on: connection) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
        await reader.record("searched", [.init("filter", .string("workflows")), .init("via", .string("api"))])
        return .ok(.init(body: .json(.init(workflows: totals.map { .init(workflow: $0.workflow, events: $0.events, lastDay: $0.lastDay) }))))
    }

    package func getInclusionProof(_ input: Operations.GetInclusionProof.Input) async throws -> Operations.GetInclusionProof.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        guard Self.isCanonicalUUID(input.path.eventId), let id = UUID(text: input.path.eventId) else {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("event_id is not a UUID", parameter: "event_id"))))
        }
        if let size = input.query.checkpointSize, size < 1 {
            return .badRequest(
                .init(body: .applicationProblemJson(Problems.badRequest("checkpoint_size must be 1 or more", parameter: "checkpoint_size"))))
        }
        let proof: CheckpointProver.InclusionProof
        do {
            // Another workflow's event is answered exactly as one that does not exist.
            guard let workflow = try await pool.run({ try EventReads.detail(id, workflows: reader.workflows, on: $0)?.event.workflow }),
                reader.workflows.map({ $0.contains(workflow) }) ?? true
            else { return .notFound(.init(body: .applicationProblemJson(Problems.notFound("no event has that id")))) }
            proof = try await pool.run { try CheckpointProver(connection: $0).inclusion(of: id, checkpointSize: input.query.checkpointSize) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        } catch let failure as CheckpointProver.Failure {
            switch failure.kind {
            case .notYet: return .conflict(.init(body: .applicationProblemJson(Problems.problem(409, "Conflict", failure.description))))
            case .notFound:
                // No checkpoint of the size asked for (or none signed here at all).
                let parameter = input.query.checkpointSize == nil ? nil : "checkpoint_size"
                return .notFound(.init(body: .applicationProblemJson(Problems.problem(404, "Not Found", failure.description, parameter: parameter))))
            case .altered: return .internalServerError(.init(body: .applicationProblemJson(Problems.altered(failure.description))))
            case .invalid: throw failure
            }
        }
        await reader.record("proof_viewed", [.init("event_id", .string(id.lowercasedString)), .init("via", .string("api"))])
        return .ok(
            .init(
                body: .json(
                    .init(
                        _type: .inclusion, eventId: proof.eventID, leafIndex: Int64(proof.leafIndex), leaf: proof.leaf, auditPath: proof.auditPath,
                        checkpoint: proof.checkpoint))))
    }

    package func verifySession(_ input: Operations.VerifySession.Input) async throws -> Operations.VerifySession.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        guard Self.isCanonicalUUID(input.path.sessionId), let id = UUID(text: input.path.sessionId) else {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("session_id is not a UUID", parameter: "session_id"))))
        }
        let verification: Components.Schemas.SessionVerification
        do {
            let session = try await pool.run { try EventReads.session(id, limit: Self.sessionLimit, workflows: reader.workflows, on: $0) }
            guard session.total > 0 else { return .notFound(.init(body: .applicationProblemJson(Problems.notFound("no session has that id")))) }
            let ids = session.events.map(\.event.eventID)
            verification = try await pool.run { connection in
                let prover = CheckpointProver(connection: connection)
                let latest = try prover.checkpoint(size: nil)?.checkpoint.size
                let events = try ids.map { eventID in
                    do {
                        let proof = try prover.inclusion(of: eventID, checkpointSize: latest)
                        return Components.Schemas.SessionVerification.EventsPayloadPayload(
                            eventId: eventID.lowercasedString, status: .proven, leafIndex: Int64(proof.leafIndex))
                    } catch let failure as CheckpointProver.Failure {
                        return .init(
                            eventId: eventID.lowercasedString, status: failure.kind == .altered ? .altered : .pending, detail: failure.description)
                    }
                }
                return .init(
                    sessionId: id.lowercasedString, verified: events.allSatisfy { $0.status == .proven }, treeSize: latest.map(Int64.init),
                    events: events)
            }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
        await reader.record(
            "session_verified",
            [.init("session_id", .string(id.lowercasedString)), .init("verified", .bool(verification.verified)), .init("via", .string("api"))])
        return .ok(.init(body: .json(verification)))
    }

    package func getLatestCheckpoint(_ input: Operations.GetLatestCheckpoint.Input) async throws -> Operations.GetLatestCheckpoint.Output {
        guard APIReader.current != nil else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        do {
            guard let found = try await pool.run({ try CheckpointProver(connection: $0).checkpoint(size: nil) }) else {
                return .notFound(
                    .init(body: .applicationProblemJson(Problems.notFound("no checkpoint is signed yet (or this collector signs none)"))))
            }
            return .ok(.init(body: .json(Self.checkpoint(found))))
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
    }

    package func getCheckpoint(_ input: Operations.GetCheckpoint.Input) async throws -> Operations.GetCheckpoint.Output {
        guard APIReader.current != nil else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        let size = input.path.treeSize
        guard size >= 1 else {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("tree_size must be 1 or more", parameter: "tree_size"))))
        }
        do {
            guard let found = try await pool.run({ try CheckpointProver(connection: $0).checkpoint(size: size) }) else {
                return .notFound(.init(body: .applicationProblemJson(Problems.notFound("no checkpoint has tree size \(size)"))))
            }
            return .ok(.init(body: .json(Self.checkpoint(found))))
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        }
    }

    package func getConsistencyProof(_ input: Operations.GetConsistencyProof.Input) async throws -> Operations.GetConsistencyProof.Output {
        guard let reader = APIReader.current else { return .unauthorized(.init(body: .applicationProblemJson(Problems.unauthorized))) }
        let (old, new) = (input.query.old, input.query.new)
        for (name, size) in [("old", old), ("new", new)] where size < 1 {
            return .badRequest(.init(body: .applicationProblemJson(Problems.badRequest("\(name) must be 1 or more", parameter: name))))
        }
        guard old <= new else {
            return .badRequest(
                .init(body: .applicationProblemJson(Problems.badRequest("old (\(old)) must not be larger than new (\(new))", parameter: "old"))))
        }
        let proof: CheckpointProver.ConsistencyProof
        do {
            proof = try await pool.run { try CheckpointProver(connection: $0).consistency(oldSize: old, newSize: new) }
        } catch let error as PGError {
            return .serviceUnavailable(.init(body: .applicationProblemJson(Problems.unavailable(error.message))))
        } catch let failure as CheckpointProver.Failure where failure.kind == .notFound {
            return .notFound(.init(body: .applicationProblemJson(Problems.notFound(failure.description))))
        } catch let failure as CheckpointProver.Failure where failure.kind == .altered {
            return .internalServerError(.init(body: .applicationProblemJson(Problems.altered(failure.description))))
        }
        await reader.record("proof_viewed", [.init("old", .number(String(old))), .init("new", .number(String(new))), .init("via", .string("api"))])
        return .ok(
            .init(body: .json(.init(_type: .consistency, oldCheckpoint: proof.oldCheckpoint, newCheckpoint: proof.newCheckpoint, proof: proof.proof)))
        )
    }

    static func checkpoint(_ found: (checkpoint: Checkpoint, note: String)) -> Components.Schemas.Checkpoint {
        .init(
            treeSize: Int64(found.checkpoint.size), origin: found.checkpoint.origin, rootHash: Data(found.checkpoint.rootHash).base64EncodedString(),
            note: found.note)
    }

    /// The stored event as the API's `Event`: the export's NDJSON object, decoded into the
    /// generated type. Numbers pass through it as 64-bit integers or doubles; one that fits
    /// neither (JSON allows any) is given as its text, so no stored event can fail a page.
    static func event(_ event: AuditEvent) throws -> Components.Schemas.Event {
        let line = EventExport.ndjsonLine(event)
        if let decoded = try? JSONDecoder().decode(Components.Schemas.Event.self, from: Data(line.utf8)) { return decoded }
        // A number no double holds (`1e400`) fails the decoder: given as its text instead.
        let data = try JSONSerialization.data(withJSONObject: foundation(try JSONParser.parse(Array(line.utf8))))
        return try JSONDecoder().decode(Components.Schemas.Event.self, from: data)
    }

    private static func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: NSNull()
        case .bool(let flag): flag
        case .string(let text): text
        case .number(let text):
            if let integer = Int64(text) {
                NSNumber(value: integer)
            } else if let real = Double(text), real.isFinite {
                NSNumber(value: real)
            } else {
                text
            }
        case .array(let items): items.map(foundation)
        case .object(let members): Dictionary(members.map { ($0.key, foundation($0.value)) }, uniquingKeysWith: { _, last in last })
        }
    }
}

/// RFC 9457 problem details.
enum Problems {
    static func problem(_ status: Int, _ title: String, _ detail: String, parameter: String? = nil) -> Components.Schemas.Problem {
        .init(_type: "about:blank", title: title, status: status, detail: detail, parameter: parameter)
    }

    static func badRequest(_ detail: String, parameter: String) -> Components.Schemas.Problem {
        problem(400, "Bad Request", detail, parameter: parameter)
    }

    static let unauthorized = problem(401, "Unauthorized", "send an API key with the read scope as Authorization: Bearer")

    static func notFound(_ detail: String) -> Components.Schemas.Problem { problem(404, "Not Found", detail) }

    /// The record was changed after it was signed: a proof from it would not verify.
    static func altered(_ detail: String) -> Components.Schemas.Problem { problem(500, "Internal Server Error", detail) }

    static func unavailable(_ detail: String) -> Components.Schemas.Problem { problem(503, "Service Unavailable", detail) }
}

/// How many NDJSON streams are running.
final class StreamCount: Sendable {
    private let running = Mutex(0)

    func enter() -> Bool {
        running.withLock { count in
            guard count < ReadAPI.maxStreams else { return false }
            count += 1
            return true
        }
    }

    func leave() { running.withLock { $0 -= 1 } }
}

/// An export's pages as the response body's bytes. However the stream ends (the last page, a
/// failure, or a body dropped unread), its place is given back and the read recorded, once.
struct StreamPages: AsyncSequence, Sendable {
    let pages: EventExport.Pages
    let ending: Ending

    func makeAsyncIterator() -> Iterator { Iterator(pages: pages.makeAsyncIterator(), ending: ending) }

    struct Iterator: AsyncIteratorProtocol {
        var pages: EventExport.Pages.Iterator
        let ending: Ending

        mutating func next() async throws -> ArraySlice<UInt8>? {
            do {
                guard let page = try await pages.next() else {
                    await ending.end(completed: true)
                    return nil
                }
                ending.count(page.rows)
                return ArraySlice(page.text.utf8)
            } catch {
                await ending.end(completed: false)
                throw error
            }
        }
    }

    final class Ending: Sendable {
        private let streams: StreamCount
        private let record: @Sendable (_ rows: Int, _ completed: Bool) async -> Void
        /// Rows sent so far, and whether the stream has ended.
        private let state = Mutex((rows: 0, ended: false))

        init(count: StreamCount, record: @escaping @Sendable (_ rows: Int, _ completed: Bool) async -> Void) {
            (self.streams, self.record) = (count, record)
        }

        func count(_ rows: Int) { state.withLock { $0.rows += rows } }

        /// The first call gives the place back and records the read; later ones do nothing.
        func end(completed: Bool) async {
            guard let rows = finish() else { return }
            await record(rows, completed)
        }

        private func finish() -> Int? {
            let rows = state.withLock { state -> Int? in
                guard !state.ended else { return nil }
                state.ended = true
                return state.rows
            }
            if rows != nil { streams.leave() }
            return rows
        }

        deinit {
            // Dropped unread or cut short: recorded as not completed.
            guard let rows = finish() else { return }
            let record = record
            Task { await record(rows, false) }
        }
    }
}
