import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import Pipeline
import ReadAPI

/// The read API (`/api/v1`, `ReadAPI`) on the UI's listener: the same people, keys and scope as
/// the pages. A request needs a person (an API key with the `read` scope, the admin token, or a
/// signed-in browser); every answer that is not a success is RFC 9457 problem details.
extension TimelineServer {
    func addReadAPIRoutes(to router: Router<UIRequestContext>) {
        router.get("/api/v1/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(bytes: ReadAPI.document)))
        }
        let api = router.group()
            .add(middleware: ProblemDetailsMiddleware(logger: logger))
            .add(middleware: SessionMiddleware(sessions: sessions, config: config, logger: logger))
            .add(
                middleware: APIReaderMiddleware(
                    limiter: APIRateLimiter(rate: config.apiRate, burst: config.apiBurst, clock: clock),
                    record: { kind, visit, details in await self.recordAccess(kind, by: visit, details: details) }))
        let handlers = ReadAPI(pool: queries.reads, streamWorker: { [queries] in queries.exportWorker() })
        do {
            try handlers.registerHandlers(on: api, serverURL: Servers.Server1.url())
        } catch {
            preconditionFailure("the document's server URL is a constant, /api/v1: \(error)")
        }
    }
}

/// Decides the API's reader from the visit: a person, and with an API key, its `read` scope;
/// a reader past its rate is answered `429` with `Retry-After`.
struct APIReaderMiddleware: RouterMiddleware {
    let limiter: APIRateLimiter
    let record: @Sendable (String, Visit, [JSONValue.Member]) async -> Void

    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        let visit = context.visit
        guard let person = visit.person else {
            return ProblemDetails.response(.unauthorized, "send an API key with the read scope as Authorization: Bearer")
        }
        if let key = visit.key, !key.scopes.contains(.read) {
            return ProblemDetails.response(.forbidden, "this API key lacks the read scope")
        }
        if let wait = limiter.take(visit.key.map { "key " + $0.fingerprint } ?? "person " + person.name) {
            var refused = ProblemDetails.response(
                .tooManyRequests, "more than \(Int(limiter.burst)) reads at once or \(limiter.rate) a second (ui.api_rate); retry in \(wait) s")
            refused.headers[.retryAfter] = String(wait)
            return refused
        }
        let reader = APIReader(name: person.name, workflows: visit.scope) { kind, details in await record(kind, visit, details) }
        return try await APIReader.$current.withValue(reader) { try await next(request, context) }
    }
}

/// Every refusal of the API as problem details (RFC 9457): those of the handlers already are;
/// the session layer's, Hummingbird's and the generated request decoding's are turned into them.
struct ProblemDetailsMiddleware: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: UIRequestContext, next: (Request, UIRequestContext) async throws -> Response) async throws -> Response {
        // A client that accepts only `application/json` still gets its refusals as problem
        // details (RFC 9457 §3), which the generated code would otherwise refuse to send it.
        var request = request
        if let accept = request.headers[.accept], !accept.contains("*/*"), !accept.contains(ProblemDetails.contentType) {
            var head = request.head
            head.headerFields[.accept] = accept + ", \(ProblemDetails.contentType);q=0.001"
            request = Request(head: head, body: request.body)
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServerError {
            // The generated code could not read the request as the document describes it (400),
            // or answer what it accepts (406); a handler's own failure is a 500 that says no more.
            guard error.httpStatus.code < 500 else {
                logger.error("ui.api_failed", metadata: ["path": "\(request.uri.path)", "error": "\(error.underlyingError)"])
                return ProblemDetails.response(.internalServerError, "the read failed; the collector's log says why")
            }
            let cause = String(describing: error.underlyingError)
            return ProblemDetails.response(error.httpStatus, error.causeDescription == cause ? cause : error.causeDescription + ": " + cause)
        } catch let error as any HTTPResponseError {
            return ProblemDetails.response(error.status, error.status.reasonPhrase)
        }
        guard response.status.code >= 400, response.headers[.contentType]?.hasPrefix(ProblemDetails.contentType) != true else {
            var response = response
            response.headers[.cacheControl] = "no-store"
            return response
        }
        // A refusal of the session layer (an unknown key, PostgreSQL not answering), re-worded.
        let detail =
            switch response.status {
            case .unauthorized: "the API key is unknown, expired or revoked"
            case .serviceUnavailable: "people and keys are kept in PostgreSQL, which does not answer; try again shortly"
            default: response.status.reasonPhrase
            }
        return ProblemDetails.response(response.status, detail)
    }
}

/// What the router itself answers under `/api/v1/`, as problem details: another method than GET
/// on one of the document's paths is `405` with `Allow: GET` (the router alone would answer 404,
/// as for a path that does not exist), and a path the document does not have is `404`.
struct APIPathMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/v1/") else { return try await next(request, context) }
        if request.method != .get, Self.isDocumented(request.uri.path) {
            var refused = ProblemDetails.response(.methodNotAllowed, "\(request.uri.path) answers GET only")
            refused.headers[.allow] = "GET"
            return refused
        }
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            return ProblemDetails.response(.notFound, "the read API has no \(request.uri.path); its paths are in /api/v1/openapi.yaml")
        }
    }

    /// Whether `path` is one of the document's paths under `/api/v1` (a `{capture}` matches any segment).
    static func isDocumented(_ path: String) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return ReadAPI.paths.contains { pattern in
            let expected = ("/api/v1" + pattern).split(separator: "/", omittingEmptySubsequences: false)
            return expected.count == segments.count
                && zip(expected, segments).allSatisfy { want, got in (want.hasPrefix("{") && !got.isEmpty) || want == got }
        }
    }
}

enum ProblemDetails {
    static let contentType = "application/problem+json"

    static func response(_ status: HTTPResponse.Status, _ detail: String) -> Response {
        let body = JSONValue.object([
            .init("type", .string("about:blank")), .init("title", .string(status.reasonPhrase)), .init("status", .number(String(status.code))),
            .init("detail", .string(detail)),
        ]).serialized()
        return Response(
            status: status, headers: [.contentType: contentType, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
