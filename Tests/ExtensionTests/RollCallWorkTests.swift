import Collector
import Foundation
import GovernanceTesting
import Logging
import Pipeline
import Synchronization
import Testing

/// Adding database work is one file plus one registry line: `RollCallWork.swift` is the file,
/// and the line is the registry below. It is built once per database, from every pipeline whose
/// primary keeps its events there, however many primaries open that database.
@Suite("third-party database work: one file and one registry line")
struct RollCallWorkTests {
    static let registry = CollectorPlan.builtIns.adding(databaseWork: RollCall.factory).adding(exporter: CountingExporter.factory)

    @Test("two primaries on one database share one roll call naming both pipelines; another database has its own")
    func oncePerDatabase() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let (shared, other) = try await offPool { (try cluster.createDatabase(), try cluster.createDatabase()) }
        func pipeline(_ name: String, _ dsn: String) -> (exporter: String, pipeline: String) {
            (
                """
                  postgres/\(name): { dsn: "\(dsn)" }
                  counting/\(name): {}
                """,
                """
                    \(name):
                      receivers: [ingest_http/\(name)]
                      processors: [seq, chain]
                      exporters: [postgres/\(name), counting/\(name)]
                """
            )
        }
        let parts = [pipeline("a", shared), pipeline("b", shared), pipeline("c", other)]
        let token = String(repeating: "0", count: 64)
        let yaml = """
            receivers:
              ingest_http/a: { endpoint: 127.0.0.1:0, tokens: [{ workflow: counting, token_sha256: "\(token)" }] }
              ingest_http/b: { endpoint: 127.0.0.1:0, tokens: [{ workflow: counting, token_sha256: "\(token)" }] }
              ingest_http/c: { endpoint: 127.0.0.1:0, tokens: [{ workflow: counting, token_sha256: "\(token)" }] }
            processors:
              seq: {}
              chain: { secret: roll-call-test-secret-of-some-length }
            exporters:
            \(parts.map(\.exporter).joined(separator: "\n"))
            service:
              telemetry: { metrics: { enabled: false } }
              pipelines:
            \(parts.map(\.pipeline).joined(separator: "\n"))
            """
        let plan = try CollectorPlan.parse(yaml: yaml, file: "roll-call.yaml", environment: [:], registry: Self.registry)
        let collector = try Collector(plan: plan, logger: Logger(label: "roll-call-test"), handleSignals: false)
        let running = Task { try await collector.run() }
        func rollCalls(_ name: String) -> [[String]] {
            CountingExporter.received.withLock { $0["counting/\(name)"] ?? [] }.filter { $0.kind == "database.roll_call" }.map {
                guard case .array(let names)? = $0.metadata["pipelines"] else { return [] }
                return names.compactMap(\.stringValue)
            }
        }
        // Until every pipeline has its roll call committed (no fixed wait).
        #expect(try await eventually { ["a", "b", "c"].allSatisfy { !rollCalls($0).isEmpty } })
        await collector.shutdown()
        try await running.value
        #expect(rollCalls("a") == [["a", "b"]])
        #expect(rollCalls("b") == [["a", "b"]])
        #expect(rollCalls("c") == [["c"]])
    }
}
