import Config
import Foundation
import Pipeline
import ServiceLifecycle

/// A third-party extension, written the way the guide in docs/architecture.md says: this file is
/// all of it. `start_marker:` records one audit event in its pipeline when the collector starts
/// (kind `kind`), then waits for shutdown. Registering it is one line (see the test).
struct StartMarker: Service {
    let pipeline: Pipeline
    let kind: String
    let clock: any Clock<Duration>

    func run() async throws {
        let marker = AuditEvent(
            eventID: UUID(), sessionID: UUID(), agentID: "extension.start_marker", kind: kind,
            metadata: .object([]), createdAt: .now(), workflow: "counting")
        // Until the primary has connected: a refusal now is the database not being ready yet.
        while !Task.isCancelled, (try? await pipeline.submit([marker], from: .collector)) == nil {
            try await clock.sleep(for: .milliseconds(20), tolerance: nil)
        }
        try? await gracefulShutdown()
    }

    static let factory = ExtensionFactory(section: "start_marker") { section, plan throws(ConfigError) in
        guard try section.bool("enabled", default: true) else {
            try section.finish()
            return nil
        }
        let kind = try section.string("kind", default: "extension.started")!
        let pipeline = try section.pipeline(among: plan.pipelines, whose: "the marker goes to")
        try section.finish()
        return (
            kind,
            { context in
                BuiltExtension(service: StartMarker(pipeline: context.pipelines[pipeline]!, kind: kind, clock: context.clock))
            }
        )
    }
}
