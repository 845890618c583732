import Config
import Pipeline
import ServiceLifecycle
import Synchronization

/// A third-party exporter, written the way the guide in docs/architecture.md says: this file is
/// all of it. `counting` counts the committed events its pipeline hands it, per component id,
/// after the pipeline's egress processors. Registering it is one line (see the test).
struct CountingExporter: SecondaryExporter {
    /// Events received so far, by component id (where the test reads them).
    static let received = Mutex<[String: [AuditEvent]]>([:])

    let id: String
    /// `drop_kind`: a kind this exporter ignores (so the test also sees configuration reach it).
    let dropKind: String?

    func export(_ events: [AuditEvent]) {
        let kept = events.filter { $0.kind != dropKind }
        Self.received.withLock { $0[id, default: []].append(contentsOf: kept) }
    }

    func run() async throws { try? await gracefulShutdown() }

    static let factory = ExporterFactory(type: "counting") { section throws(ConfigError) in
        let dropKind = try section.string("drop_kind")
        try section.finish()
        return { context in .secondary(CountingExporter(id: context.id, dropKind: dropKind)) }
    }
}
