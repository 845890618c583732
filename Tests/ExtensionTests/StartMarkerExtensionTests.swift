import Collector
import Config
import Foundation
import GovernanceTesting
import Logging
import Pipeline
import Synchronization
import Testing

/// Adding an extension is one file plus one registry line: `StartMarkerExtension.swift` is the
/// file, and the line is the registry below. It runs beside the built-in ones on a real primary.
@Suite("a third-party extension: one file and one registry line")
struct StartMarkerExtensionTests {
    static let registry = CollectorPlan.builtIns.adding(extension: StartMarker.factory).adding(exporter: CountingExporter.factory)

    static func yaml(dsn: String, marker: String) -> String {
        """
        receivers:
          ingest_http:
            endpoint: 127.0.0.1:0
            tokens: [{ workflow: counting, token_sha256: "\(String(repeating: "0", count: 64))" }]
        processors:
          seq: {}
          chain: { secret: start-marker-test-secret-of-some-length }
        exporters:
          postgres: { dsn: "\(dsn)" }
          counting/marker: {}
        service:
          telemetry: { metrics: { enabled: false } }
          pipelines:
            audit:
              receivers: [ingest_http]
              processors: [seq, chain]
              exporters: [postgres, counting/marker]
        start_marker: \(marker)
        """
    }

    @Test("its section configures it, its service runs with the built pipeline, and what it submits is committed")
    func recordsAStartEvent() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let dsn = try cluster.createDatabase()
        let plan = try CollectorPlan.parse(
            yaml: Self.yaml(dsn: dsn, marker: "{ kind: marker.started }"), file: "marker.yaml",
            environment: [:], registry: Self.registry)
        #expect(plan.settings(of: "start_marker", as: String.self) == "marker.started")
        let collector = try Collector(plan: plan, logger: Logger(label: "marker-test"), handleSignals: false)
        #expect(collector.extensions["start_marker"] != nil)
        let running = Task { try await collector.run() }
        func markers() -> [AuditEvent] {
            CountingExporter.received.withLock { $0["counting/marker"] ?? [] }.filter { $0.kind == "marker.started" }
        }
        // Until the primary has connected and the marker is committed (no fixed wait).
        for _ in 0..<6000 where markers().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        await collector.shutdown()
        try await running.value
        let marker = try #require(markers().first)
        #expect(markers().count == 1)
        // Committed like any event of the pipeline: numbered and chained by its commit stages.
        #expect(marker.seq == 1 && marker.hmac != nil)
    }

    @Test("a section that turns it off builds none; a mistake names its key")
    func configuration() throws {
        let off = try CollectorPlan.parse(
            yaml: Self.yaml(dsn: "", marker: "{ enabled: false }"), file: "marker.yaml",
            environment: [:], registry: Self.registry)
        #expect(off.extensions.isEmpty)
        #expect {
            try CollectorPlan.parse(
                yaml: Self.yaml(dsn: "", marker: "{ pipeline: nope }"), file: "marker.yaml",
                environment: [:], registry: Self.registry)
        } throws: { "\($0)".contains("start_marker.pipeline") }
        // Without the registry line the section is not known.
        let withoutIt = CollectorPlan.builtIns.adding(exporter: CountingExporter.factory)
        #expect {
            try CollectorPlan.parse(yaml: Self.yaml(dsn: "", marker: "{}"), file: "marker.yaml", environment: [:], registry: withoutIt)
        } throws: { "\($0)".contains("start_marker") }
    }
}
