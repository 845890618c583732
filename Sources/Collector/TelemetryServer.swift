import Foundation
import Hummingbird
import Listeners
import Logging
import NIOCore
import Pipeline
import Prometheus
import Receivers
import ServiceLifecycle
import Synchronization

/// The operator's endpoint, on its own address so it can stay private while receivers are
/// exposed: `GET /metrics` (Prometheus text format), `GET /healthz` (the process answers) and
/// `GET /readyz` (every pipeline's PostgreSQL is connected and migrated, every receiver is
/// listening, and no shutdown has begun), as Kubernetes probes and load balancers expect.
/// It starts before and stops after everything else, so a drain can be watched to its end.
final class TelemetryServer: Service, Sendable {
    private let application: any Service
    private let bound = BoundPort()

    init(
        host: String, port: Int, limits: ListenerLimits, telemetry: Telemetry, registry: PrometheusCollectorRegistry,
        readiness: @escaping @Sendable () -> (ready: Bool, checks: [String: String]), logger: Logger
    ) {
        let metrics = ListenerMetrics(telemetry, listener: "telemetry")
        let router = Router()
        router.get("/metrics") { _, _ in
            var bytes = MetricsHelp.annotate(registry.emitToBuffer())
            ProcessMetrics.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/healthz") { _, _ in Self.json(.ok, ["ok": true]) }
        router.get("/readyz") { _, _ in
            let (ready, checks) = readiness()
            return Self.json(ready ? .ok : .serviceUnavailable, ["ok": ready, "checks": checks])
        }
        let bound = self.bound
        application = Application(
            router: router,
            server: LimitedHTTPServer.http1(limits: limits, metrics: metrics),
            configuration: LimitedHTTPServer.configuration(host: host, port: port, limits: limits, metrics: metrics),
            onServerRunning: { channel in
                bound.value.withLock { $0 = channel.localAddress?.port }
                logger.info(
                    "telemetry.listening",
                    metadata: [
                        "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                        "paths": "/metrics /healthz /readyz",
                    ])
            },
            logger: logger)
    }

    /// The port actually bound (useful with port 0); nil until listening.
    var port: Int? { bound.value.withLock { $0 } }

    func run() async throws {
        try await application.run()
    }

    private static func json(_ status: HTTPResponse.Status, _ body: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: Array(data) + [UInt8(ascii: "\n")])))
    }
}

/// The standard `process_*` metrics Prometheus client libraries export, read from /proc at
/// scrape time.
enum ProcessMetrics {
    static func emit(into bytes: inout [UInt8]) {
        var lines: [String] = []
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command name; utime and stime are fields 14 and 15 (clock ticks).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]), let rssPages = Double(fields[21]) {
                lines.append("# HELP process_cpu_seconds_total User and system CPU time of the collector process, seconds.")
                lines.append("# TYPE process_cpu_seconds_total counter")
                lines.append("process_cpu_seconds_total \((user + system) / ticks)")
                lines.append("# HELP process_resident_memory_bytes Resident memory of the collector process, bytes.")
                lines.append("# TYPE process_resident_memory_bytes gauge")
                lines.append("process_resident_memory_bytes \(Int(rssPages) * Int(sysconf(Int32(_SC_PAGESIZE))))")
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            lines.append("# HELP process_open_fds Open file descriptors of the collector process.")
            lines.append("# TYPE process_open_fds gauge")
            lines.append("process_open_fds \(fds.count)")
        }
        bytes.append(contentsOf: (lines.joined(separator: "\n") + "\n").utf8)
    }
}
