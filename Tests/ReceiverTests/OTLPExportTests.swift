import Logging
import GovernanceTesting
import OTLP
import Pipeline
@testable import Receivers
import Synchronization
import Testing

/// What every OTLP transport reports for a decoded export request (`OTLPExport.handle`), without
/// a database: HTTP and gRPC only spell it differently (CollectorTests check both on the wire).
@Suite("OTLP export outcomes")
struct OTLPExportTests {
    static func logs(_ records: [String]) -> [UInt8] {
        Array(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[\#(records.joined(separator: ","))]}]}]}"#.utf8)
    }

    static func record(agent: String?) -> String {
        let agentAttribute = agent.map { #"{"key":"gen_ai.agent.id","value":{"stringValue":"\#($0)"}},"# } ?? ""
        return #"{"eventName":"tool.call","attributes":[\#(agentAttribute){"key":"session.id","value":{"stringValue":"s"}}]}"#
    }

    func export(_ primary: MemoryPrimary) -> OTLPExport {
        OTLPExport(
            pipeline: memoryPipeline(primary, chained: true), metrics: ReceiverMetrics(.disabled, receiver: "otlp"), traces: TraceSettings(),
            staging: nil, genAIMetrics: nil, drops: DroppedSpansLog(logger: Logger(label: "test")))
    }

    @Test("records that map are stored; one that does not is counted and named in the partial-success message")
    func partialSuccess() async throws {
        let primary = MemoryPrimary()
        let accepted = try await export(primary).handle(
            .logs, Self.logs([Self.record(agent: "a"), Self.record(agent: nil)]), encoding: .json, workflow: "wf")
        #expect(accepted.rejected == 1)
        #expect(accepted.message == "record 1: attributes.gen_ai.agent.id is required (on the record or its resource)")
        #expect(primary.committed.withLock { $0 }.map(\.agentID) == ["a"])
    }

    @Test("an undecodable request is invalid (HTTP 400, gRPC INVALID_ARGUMENT) and nothing is submitted")
    func invalid() async throws {
        let primary = MemoryPrimary()
        do {
            _ = try await export(primary).handle(.logs, Array("not protobuf \u{1}".utf8), encoding: .protobuf, workflow: "wf")
            Issue.record("garbage was accepted")
        } catch {
            guard case .invalid = error else { Issue.record("\(error)"); return }
        }
        #expect(primary.committed.withLock { $0 }.isEmpty)
    }

    @Test("a primary that cannot commit is unavailable with its retry delay (HTTP 503, gRPC UNAVAILABLE)")
    func unavailable() async throws {
        do {
            _ = try await export(MemoryPrimary(unavailable: true)).handle(
                .logs, Self.logs([Self.record(agent: "a")]), encoding: .json, workflow: "wf")
            Issue.record("accepted by a primary that is down")
        } catch {
            guard case .unavailable(let reason, let seconds) = error else { Issue.record("\(error)"); return }
            #expect(reason == "the test's primary is down")
            #expect(seconds == 2)
        }
    }
}
