import Foundation
import HTTPTypes
import Hummingbird
import Listeners
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization

/// The HTTP server of one receiver, and what every receiver does the same way: count requests
/// by status (`governance_receiver_requests_total{receiver,status}`) and events by outcome
/// (`governance_receiver_events_total{receiver,outcome}`), and shut down without losing
/// anything. On graceful shutdown it first drains: new requests get 503 with `Retry-After`
/// and `Connection: close` (clients retry elsewhere), requests already accepted run to their
/// commit, and only then does the listener close.
final class ReceiverServer: Sendable {
    let name: String
    let metrics: ReceiverMetrics
    private let gate = DrainGate()
    private let port = BoundPort()
    private let inner: ServiceGroup
    private let logger: Logger
    /// What the drain's deadline is timed by (the collector's clock).
    private let clock: any Clock<Duration>

    /// `name` is for log lines, `listenerID` labels the listener's connection metrics.
    init(
        name: String, listenerID: String, listener: HTTPListener, context: ReceiverContext, metrics: ReceiverMetrics,
        routes: (Router<BasicRequestContext>) -> Void
    ) throws {
        self.name = name
        logger = context.logger
        clock = context.clock
        self.metrics = metrics
        let router = Router()
        router.middlewares.add(RequestMetricsMiddleware(requests: metrics.requests))
        router.middlewares.add(DrainMiddleware(gate: gate))
        router.middlewares.add(JSONErrorMiddleware())
        routes(router)
        let application = try listener.application(
            router: router, name: name, metrics: ListenerMetrics(context.telemetry, listener: listenerID),
            boundPort: port, logger: context.logger)
        // The server runs in a group of its own, so the collector's shutdown reaches it only
        // after the drain (see `run`).
        inner = ServiceGroup(
            configuration: .init(
                services: [.init(service: application)], gracefulShutdownSignals: [],
                cancellationSignals: [], logger: context.logger))
    }

    /// The port actually bound (useful with port 0); nil until listening.
    var boundPort: Int? { port.value.withLock { $0 } }
    var isListening: Bool { boundPort != nil && !gate.isDraining }

    func run() async throws {
        let server = Task.detached { [inner] in try await inner.run() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await server.value
            } onGracefulShutdown: { [self] in
                gate.beginDraining()
                Task {
                    let unfinished = await gate.waitUntilIdle(timeout: .seconds(30), on: clock)
                    logger.info("\(name).drained", metadata: ["unfinished_requests": "\(unfinished)"])
                    await inner.triggerGracefulShutdown()
                }
            }
        } onCancel: {
            server.cancel()
        }
    }
}

/// Receiver metrics, labelled `receiver="<id>"`.
struct ReceiverMetrics: Sendable {
    let requests: CounterFamily
    let events: CounterFamily
    /// OTLP metric data points received (counted, not stored), by family: `gen_ai` or `other`.
    let metricPoints: CounterFamily

    init(_ telemetry: Telemetry, receiver: String) {
        requests = telemetry.counterFamily("governance_receiver_requests_total", [("receiver", receiver)], varying: "status")
        events = telemetry.counterFamily("governance_receiver_events_total", [("receiver", receiver)], varying: "outcome")
        metricPoints = telemetry.counterFamily("governance_receiver_metric_points_total", [("receiver", receiver)], varying: "family")
    }

    /// Counts submitted events by outcome: stored, duplicate, rejected.
    func record(_ outcomes: [EventOutcome]) {
        events.tally(outcomes.lazy.map(\.label))
    }
}

/// Requests admitted and not yet answered, and whether new ones are still admitted.
final class DrainGate: Sendable {
    private let state = Mutex<(draining: Bool, inFlight: Int)>((false, 0))
    /// Broadcast when the last request in flight is answered.
    private let idle = ChangeSignal()

    var isDraining: Bool { state.withLock { $0.draining } }

    /// Admits a request unless draining.
    func enter() -> Bool {
        state.withLock { s in
            if s.draining { return false }
            s.inFlight += 1
            return true
        }
    }

    func leave() {
        let nowIdle = state.withLock { s in
            s.inFlight -= 1
            return s.inFlight == 0
        }
        if nowIdle { idle.broadcast() }
    }

    func beginDraining() { state.withLock { $0.draining = true } }

    /// Waits until no admitted request is left, or `timeout` on `clock`; returns how many are left.
    func waitUntilIdle(timeout: Duration, on clock: any Clock<Duration>) async -> Int {
        let started = Stopwatch(on: clock)
        while true {
            let generation = idle.generation
            let left = state.withLock { $0.inFlight }
            let time = timeout - started.elapsed
            if left == 0 || time <= .zero { return left }
            await idle.wait(after: generation, upTo: time, on: clock)
        }
    }
}

struct DrainMiddleware<Context: RequestContext>: RouterMiddleware {
    let gate: DrainGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard gate.enter() else {
            return IngestHandler.json(
                .serviceUnavailable,
                [
                    "ok": .bool(false), "error": .string("shutting_down"),
                    "message": .string("the collector is shutting down; retry (another instance will answer)"),
                ],
                headers: [.retryAfter: "1", .connection: "close"])
        }
        defer { gate.leave() }
        return try await next(request, context)
    }
}

struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let requests: CounterFamily

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            requests.increment(String(response.status.code))
            return response
        } catch let error as HTTPError {
            requests.increment(String(error.status.code))
            throw error
        } catch {
            requests.increment("500")
            throw error
        }
    }
}
