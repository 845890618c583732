import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
package import Pipeline
import ServiceLifecycle
package import Synchronization

/// The hosted platform's ingest API, so existing SDK bridges can point at the collector:
/// `POST /api/v1/ingest/events` (one event, the SDK bridge's request) and
/// `POST /api/v1/ingest/events/batch` (a JSON array or NDJSON, per-event results), the SDK's
/// gate bridge (`GateBridgeHandler`), plus `/healthz` and `/readyz`. A 2xx is sent only after the events' Postgres transaction committed.
package final class IngestHTTPReceiver: Receiver, Sendable {
    package static let eventsPath = "/api/v1/ingest/events"
    package static let batchPath = "/api/v1/ingest/events/batch"

    let config: IngestHTTPConfig
    private let server: ReceiverServer

    package init(config: IngestHTTPConfig, context: ReceiverContext) throws {
        let pipeline = context.pipeline
        self.config = config
        let metrics = ReceiverMetrics(context.telemetry, receiver: context.id)
        let handler = IngestHandler(config: config, pipeline: pipeline, metrics: metrics, inFlight: context.inFlight, logger: context.logger)
        server = try ReceiverServer(name: "ingest_http", listenerID: context.id, listener: config.listener, context: context, metrics: metrics) {
            router in
            router.post(RouterPath(Self.eventsPath)) { request, _ in await handler.single(request) }
            router.post(RouterPath(Self.batchPath)) { request, _ in await handler.batch(request) }
            let gates = GateBridgeHandler(ingest: handler, gates: context.resources.get((any ApprovalGates).self))
            router.post(RouterPath(GateBridgeHandler.gatePath)) { request, context in
                await gates.open(request, context.parameters.get("request_id"))
            }
            router.get(RouterPath(GateBridgeHandler.resolutionPath)) { request, context in
                await gates.resolution(request, context.parameters.get("request_id"))
            }
            router.post(RouterPath(GateBridgeHandler.resolutionPath)) { request, context in
                await gates.resolvedLocally(request, context.parameters.get("request_id"))
            }
            router.get("/healthz") { _, _ in IngestHandler.json(.ok, ["ok": .bool(true)]) }
            router.get("/readyz") { _, _ in
                pipeline.isReady
                    ? IngestHandler.json(.ok, ["ok": .bool(true), "postgres": .string("ready")])
                    : IngestHandler.json(.serviceUnavailable, ["ok": .bool(false), "postgres": .string("unavailable")])
            }
        }
    }

    /// The port actually bound (useful with port 0); nil until listening.
    package var boundPort: Int? { server.boundPort }
    package var isListening: Bool { server.isListening }

    package func run() async throws {
        try await server.run()
    }
}

/// The listening port, shared with the server's start-up callback.
package final class BoundPort: Sendable {
    package let value = Mutex<Int?>(nil)
    package init() {}
}

/// Maps Hummingbird's own errors (unknown path, wrong method) to the same JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_error"
            return IngestHandler.json(
                error.status,
                [
                    "ok": .bool(false), "error": .string(code),
                    "message": .string(error.body ?? "\(request.method) \(request.uri.path) is not served here"),
                ])
        }
    }
}
