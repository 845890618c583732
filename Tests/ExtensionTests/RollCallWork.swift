import Foundation
import Pipeline
import ServiceLifecycle

/// Third-party database work: this file is all of it. Once per database, before the receivers
/// start, it submits one `database.roll_call` event to each pipeline keeping its events there,
/// naming all of them. Registering it is one line (see the test).
struct RollCall: Service {
    let pipelines: [Pipeline]
    let clock: any Clock<Duration>

    func run() async throws {
        let names = JSONValue.array(pipelines.map(\.name).sorted().map { .string($0) })
        for pipeline in pipelines {
            let event = AuditEvent(
                eventID: UUID(), sessionID: UUID(), agentID: "work.roll_call", kind: "database.roll_call",
                metadata: .object([.init("pipelines", names)]), createdAt: .now(), workflow: pipeline.name)
            // Until the primary has connected: a refusal now is the database not being ready yet.
            while !Task.isCancelled, (try? await pipeline.submit([event], from: .collector)) == nil {
                try await clock.sleep(for: .milliseconds(20), tolerance: nil)
            }
        }
        try? await gracefulShutdown()
    }

    static let factory = DatabaseWorkFactory(name: "roll_call") { context in
        let names = context.pipelines.map(\.name)
        return DatabaseWork(services: { built in [RollCall(pipelines: names.map { built[$0]! }, clock: context.clock)] })
    }
}
