import Foundation
@testable import OTLP
import Pipeline
import Testing

/// The OTLP codecs and the log-record mapping on their own (CollectorTests post the same requests
/// to a running collector and read the rows back).
@Suite("OTLP log records: codecs and mapping")
struct LogRecordCodecTests {
    static func record(severity: Int32 = 9) -> OTLPLogRecord {
        var r = OTLPLogRecord()
        r.eventName = "tool.call"
        r.timeUnixNano = 1_767_323_045_123_456_000
        r.severityNumber = severity
        r.severityText = "INFO"
        r.attributes = [
            OTLPAttribute("gen_ai.agent.id", .string("agent-1")),
            OTLPAttribute("session.id", .string("2f1c2b1e-8a47-4a8e-9a55-0c7d5b0e2f11")),
            OTLPAttribute("tool", .string("sql")),
        ]
        r.traceID = Array(repeating: 7, count: 16)
        r.spanID = Array(repeating: 9, count: 8)
        return r
    }

    @Test("protobuf and JSON both carry a record there and back unchanged, a negative severity included")
    func roundTrip() throws {
        for severity: Int32 in [9, -2] {
            let original = Self.record(severity: severity)
            #expect(try OTLPProtobuf.decodeRequest(OTLPProtobuf.encodeRequest([original])) == [original])
            #expect(try OTLPJSON.decodeRequest(OTLPJSON.encodeRequest([original])) == [original])
        }
    }

    @Test("a JSON field of the wrong type is refused with its path")
    func wrongType() {
        let body = Array(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}"#.utf8)
        #expect(throws: OTLPDecodingError("resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano must be an integer, got boolean")) {
            try OTLPJSON.decodeRequest(body)
        }
    }

    @Test("the mapping: kind, agent, session, time and the otel block; the same record always gets the same event id")
    func mapping() throws {
        let event = try OTLPMapping.event(from: Self.record(severity: -2), workflow: "wf", receivedAt: Timestamp(microseconds: 1))
        #expect(event.kind == "tool.call")
        #expect(event.agentID == "agent-1")
        #expect(event.sessionID == UUID(uuidString: "2f1c2b1e-8a47-4a8e-9a55-0c7d5b0e2f11"))
        #expect(event.createdAt == Timestamp(microseconds: 1_767_323_045_123_456))
        #expect(event.metadata["tool"] == .string("sql"))
        #expect(event.metadata["otel"]?["severity_number"] == .number("-2"))
        #expect(event.metadata["otel"]?["trace_id"] == .string(String(repeating: "07", count: 16)))
        #expect(try OTLPMapping.event(from: Self.record(severity: -2), workflow: "wf").eventID == event.eventID)
    }

    @Test("a record without an event name or an agent is refused naming the attribute to set")
    func required() {
        var unnamed = Self.record()
        unnamed.eventName = ""
        #expect(throws: EventRejection(field: "event_name", message: "is required: set LogRecord.event_name or the event.name attribute")) {
            try OTLPMapping.event(from: unnamed, workflow: "wf")
        }
        var anonymous = Self.record()
        anonymous.attributes.removeFirst()
        #expect(throws: EventRejection(field: "attributes.gen_ai.agent.id", message: "is required (on the record or its resource)")) {
            try OTLPMapping.event(from: anonymous, workflow: "wf")
        }
    }
}
