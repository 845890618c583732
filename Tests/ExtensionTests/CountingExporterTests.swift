import Collector
import Foundation
import GovernanceTesting
import Logging
import Pipeline
import Synchronization
import Testing

/// Adding an exporter is one file plus one registry line: `CountingExporter.swift` is the file,
/// and the line is the registry below. A pipeline with the real postgres primary runs through it.
@Suite("a third-party exporter: one file and one registry line")
struct CountingExporterTests {
    static let registry = CollectorPlan.builtIns.adding(exporter: CountingExporter.factory)

    @Test("the registered exporter gets every committed event once, configured, after the primary")
    func countsCommittedEvents() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let dsn = try cluster.createDatabase()
        let yaml = """
            receivers:
              ingest_http:
                endpoint: 127.0.0.1:0
                tokens: [{ workflow: counting, token_sha256: "\(String(repeating: "0", count: 64))" }]
            processors:
              seq: {}
              chain: { secret: counting-test-secret-of-some-length }
            exporters:
              postgres: { dsn: "\(dsn)" }
              counting/audit: { drop_kind: ignored.kind }
            service:
              telemetry: { metrics: { enabled: false } }
              pipelines:
                audit:
                  receivers: [ingest_http]
                  processors: [seq, chain]
                  exporters: [postgres, counting/audit]
            """
        let plan = try CollectorPlan.parse(yaml: yaml, file: "counting.yaml", environment: [:], registry: Self.registry)
        #expect(plan.exporters["counting/audit"]?.type == "counting")
        let collector = try Collector(plan: plan, logger: Logger(label: "counting-test"), handleSignals: false)
        let running = Task { try await collector.run() }
        let pipeline = try #require(collector.pipelines["audit"])
        // Until the primary has connected and migrated (a throwaway cluster on a busy machine: no fixed wait).
        for _ in 0..<6000 where !pipeline.isReady { try await Task.sleep(for: .milliseconds(10)) }
        try #require(pipeline.isReady)

        let session = UUID()
        let events = (0..<5).map { i in
            AuditEvent(
                eventID: UUID(), sessionID: session, agentID: "agent-1", kind: i == 4 ? "ignored.kind" : "tool.call",
                metadata: .object([]), createdAt: .now(), workflow: "counting")
        }
        #expect(try await pipeline.submit(events) == Array(repeating: .stored, count: 5))
        // A resubmission is a duplicate: the primary stores nothing, so no copy goes out.
        #expect(try await pipeline.submit([events[0]]) == [.duplicate])
        await collector.shutdown()
        try await running.value

        let received = CountingExporter.received.withLock { $0["counting/audit"] ?? [] }
        #expect(received.map(\.eventID) == events.prefix(4).map(\.eventID))
        // What it got is what was committed: numbered and chained by the commit stages.
        #expect(received.map(\.seq) == [1, 2, 3, 4])
        #expect(received.allSatisfy { $0.hmac != nil })
    }
}
