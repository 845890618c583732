import Foundation
import Testing
@testable import Pipeline

private let receivedAt = Timestamp(microseconds: 1_800_000_000_000_000)

/// A complete event as the reference SDK sends it.
private let fullEventText = #"""
    {
      "event_id": "3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90",
      "event_type": "tool.call.denied",
      "agent_id": "agent-7",
      "seq": 42,
      "payload": {
        "session_id": "9E2D4B6A-1C3F-4A5B-8D7E-0F1A2B3C4D5E",
        "kind": "tool.call.denied",
        "created_at": "2026-01-02T03:04:05.000120+00:00",
        "metadata": {"tool": "shell", "args": ["rm", "-rf"], "cost": 1.0, "big": 1e+16},
        "signature_status": "signed",
        "parent_event_id": "00000000-0000-4000-8000-000000000001",
        "model": "gpt-x",
        "input_hash": "aa11",
        "output_hash": "bb22",
        "signing_key_fingerprint": "SHA256:abcdef",
        "signature_hex": "00ff10Ab"
      },
      "prev_hash": "",
      "client_hmac": "0123456789abcdefABCDEF",
      "sdk_version": "1.4.2",
      "decision": "allow",
      "unknown_field": {"ignored": true}
    }
    """#

private func wire(_ text: String) throws -> JSONValue { try JSONParser.parse(text) }

/// The full event with `transform` applied to its top-level and payload members.
private func mutated(
    top: (inout [JSONValue.Member]) -> Void = { _ in },
    payload: (inout [JSONValue.Member]) -> Void = { _ in }
) throws -> JSONValue {
    guard case .object(var members) = try wire(fullEventText),
        let index = members.firstIndex(where: { $0.key == "payload" }),
        case .object(var payloadMembers) = members[index].value
    else {
        Issue.record("fixture is not an object with a payload object")
        return .null
    }
    payload(&payloadMembers)
    members[index].value = .object(payloadMembers)
    top(&members)
    return .object(members)
}

private func set(_ members: inout [JSONValue.Member], _ key: String, _ value: JSONValue?) {
    if let i = members.firstIndex(where: { $0.key == key }) {
        if let value { members[i].value = value } else { members.remove(at: i) }
    } else if let value {
        members.append(.init(key, value))
    }
}

private func rejection(_ json: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) throws -> EventRejection {
    try #require(throws: EventRejection.self, sourceLocation: sourceLocation) {
        try WireFormat.decode(json, workflow: "wf", receivedAt: receivedAt)
    }
}

private func sampleEvent() -> AuditEvent {
    AuditEvent(
        eventID: UUID(uuidString: "3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90")!,
        sessionID: UUID(uuidString: "9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e")!,
        agentID: "agent-7", kind: "approval.granted.batch",
        parentEventID: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!,
        model: "m", inputHash: "ih", outputHash: "oh",
        metadata: .object([.init("z", .number("1.0")), .init("a", .string("é\u{0001}"))]),
        prevHash: "abcd", hmac: "ef01", createdAt: Timestamp(microseconds: -1),
        signature: [0, 1, 254, 255], signingKeyFingerprint: "fp", signatureStatus: "signed",
        workflow: "wf", clientSeq: 9, sdkVersion: "1.0.0", decision: .allow)
}

@Suite("WireFormat.decode")
struct WireFormatDecodeTests {
    @Test func decodesEveryField() throws {
        let event = try WireFormat.decode(wire(fullEventText), workflow: "payments", receivedAt: receivedAt)
        #expect(event.eventID == UUID(uuidString: "3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90"))
        #expect(event.eventID.lowercasedString == "3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90")
        #expect(event.sessionID.lowercasedString == "9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e")
        #expect(event.agentID == "agent-7")
        #expect(event.kind == "tool.call.denied")
        #expect(event.parentEventID?.lowercasedString == "00000000-0000-4000-8000-000000000001")
        #expect(event.model == "gpt-x")
        #expect(event.inputHash == "aa11")
        #expect(event.outputHash == "bb22")
        #expect(event.metadata.serialized() == #"{"tool":"shell","args":["rm","-rf"],"cost":1.0,"big":1e+16}"#)
        #expect(event.prevHash == nil)  // "" means first in chain
        #expect(event.hmac == "0123456789abcdefABCDEF")
        #expect(event.createdAt == Timestamp(microseconds: 1_767_323_045_000_120))
        #expect(event.signature == [0x00, 0xFF, 0x10, 0xAB])
        #expect(event.signingKeyFingerprint == "SHA256:abcdef")
        #expect(event.signatureStatus == "unverified", "a claim is never stored as the collector's verdict")
        #expect(event.clientSignatureStatus == "signed")
        #expect(event.workflow == "payments")
        #expect(event.clientSeq == 42)
        #expect(event.sdkVersion == "1.4.2")
        // An explicit decision wins over the one the kind implies.
        #expect(event.decision == .allow)
    }

    @Test func minimalEventGetsDefaults() throws {
        let json = try wire(
            #"""
            {"event_id":"3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90","event_type":"policy.violation",
             "agent_id":"a","payload":{"session_id":"9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e"},"prev_hash":"ab"}
            """#)
        let event = try WireFormat.decode(json, workflow: "w", receivedAt: receivedAt)
        #expect(event.kind == "policy.violation")  // taken from event_type
        #expect(event.createdAt == receivedAt)
        #expect(event.metadata == .object([]))
        #expect(event.signatureStatus == "unsigned")
        #expect(event.clientSeq == nil)
        #expect(event.hmac == nil)
        #expect(event.prevHash == "ab")
        #expect(event.signature == nil)
        #expect(event.parentEventID == nil)
        #expect(event.decision == .deny)  // inferred from the kind
    }

    @Test func nullsCountAsAbsent() throws {
        let json = try mutated(
            top: {
                set(&$0, "seq", .null); set(&$0, "client_hmac", .null); set(&$0, "decision", .null)
            },
            payload: {
                set(&$0, "metadata", .null); set(&$0, "model", .null); set(&$0, "parent_event_id", .null)
            })
        let event = try WireFormat.decode(json, workflow: "w", receivedAt: receivedAt)
        #expect(event.clientSeq == nil)
        #expect(event.hmac == nil)
        #expect(event.metadata == .object([]))
        #expect(event.model == nil)
        #expect(event.parentEventID == nil)
        #expect(event.decision == .deny)  // tool.call.denied
    }

    @Test func missingEventIDNamesTheField() throws {
        let error = try rejection(mutated(top: { set(&$0, "event_id", nil) }))
        #expect(error.field == "event_id")
        #expect(error.message.contains("required"))
        #expect(error.status == 400)
    }

    @Test("bad UUIDs name the field", arguments: ["not-a-uuid", "9e2d4b6a1c3f4a5b8d7e0f1a2b3c4d5e", "{9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e}", ""])
    func badSessionID(_ text: String) throws {
        let error = try rejection(mutated(payload: { set(&$0, "session_id", .string(text)) }))
        #expect(error.field == "payload.session_id")
        #expect(error.message.contains("UUID"))
    }

    @Test func otherUUIDFieldsAreChecked() throws {
        #expect(try rejection(mutated(top: { set(&$0, "event_id", .string("x")) })).field == "event_id")
        #expect(try rejection(mutated(payload: { set(&$0, "parent_event_id", .string("x")) })).field == "payload.parent_event_id")
        #expect(try rejection(mutated(payload: { set(&$0, "session_id", nil) })).field == "payload.session_id")
        #expect(try rejection(mutated(top: { set(&$0, "event_id", .number("1")) })).message.contains("string"))
    }

    @Test(
        "bad seq values name seq",
        arguments: [
            JSONValue.number("0"), .number("-1"), .string("1"), .number("1.0"), .number("1e2"), .bool(true),
            .number("9223372036854775808"),
        ])
    func badSeq(_ value: JSONValue) throws {
        let error = try rejection(mutated(top: { set(&$0, "seq", value) }))
        #expect(error.field == "seq")
        #expect(error.message.contains("integer"))
    }

    @Test func badDecision() throws {
        let error = try rejection(mutated(top: { set(&$0, "decision", .string("maybe")) }))
        #expect(error.field == "decision")
        #expect(error.message.contains("maybe"))
        #expect(try rejection(mutated(top: { set(&$0, "decision", .string("ALLOW")) })).field == "decision")
    }

    @Test func eventTypeMustMatchKind() throws {
        let error = try rejection(mutated(top: { set(&$0, "event_type", .string("tool.call.allowed")) }))
        #expect(error.field == "event_type")
        #expect(error.message.contains("tool.call.allowed"))
        #expect(error.message.contains("tool.call.denied"))
    }

    @Test func kindOrEventTypeIsRequired() throws {
        let error = try rejection(mutated(top: { set(&$0, "event_type", nil) }, payload: { set(&$0, "kind", nil) }))
        #expect(error.field == "payload.kind")
        // Kind alone is enough.
        let event = try WireFormat.decode(mutated(top: { set(&$0, "event_type", nil) }), workflow: "w", receivedAt: receivedAt)
        #expect(event.kind == "tool.call.denied")
    }

    @Test("metadata must be an object", arguments: [JSONValue.array([]), .string("{}"), .number("1"), .bool(false)])
    func metadataNotAnObject(_ value: JSONValue) throws {
        let error = try rejection(mutated(payload: { set(&$0, "metadata", value) }))
        #expect(error.field == "payload.metadata")
        #expect(error.message.contains(value.typeName))
    }

    @Test("created_at must be RFC 3339 with offset", arguments: ["2026-01-02T03:04:05.000120", "yesterday", "2026-02-30T00:00:00Z"])
    func badCreatedAt(_ text: String) throws {
        let error = try rejection(mutated(payload: { set(&$0, "created_at", .string(text)) }))
        #expect(error.field == "payload.created_at")
        #expect(error.message.contains("offset"))
    }

    @Test func createdAtMustBeAString() throws {
        let error = try rejection(mutated(payload: { set(&$0, "created_at", .number("1767323045")) }))
        #expect(error.field == "payload.created_at")
        #expect(error.message.contains("string"))
    }

    @Test("client_hmac must be hex", arguments: ["xyz", "00 ff", "0x00ff", "ab-cd", "é"])
    func clientHMACNotHex(_ text: String) throws {
        let error = try rejection(mutated(top: { set(&$0, "client_hmac", .string(text)) }))
        #expect(error.field == "client_hmac")
        #expect(error.message.contains("hexadecimal"))
    }

    @Test func emptyClientHMACIsAbsent() throws {
        let event = try WireFormat.decode(mutated(top: { set(&$0, "client_hmac", .string("")) }), workflow: "w", receivedAt: receivedAt)
        #expect(event.hmac == nil)
    }

    @Test("signature_hex must be an even number of hex digits", arguments: ["abc", "0", "zz", "0g"])
    func badSignatureHex(_ text: String) throws {
        let error = try rejection(mutated(payload: { set(&$0, "signature_hex", .string(text)) }))
        #expect(error.field == "payload.signature_hex")
        #expect(error.message.contains("even"))
    }

    @Test func emptySignatureHexIsAnEmptySignature() throws {
        let event = try WireFormat.decode(mutated(payload: { set(&$0, "signature_hex", .string("")) }), workflow: "w", receivedAt: receivedAt)
        #expect(event.signature == [])
    }

    @Test func stringFieldsMustBeStrings() throws {
        let agent = try rejection(mutated(top: { set(&$0, "agent_id", .number("7")) }))
        #expect(agent.field == "agent_id")
        #expect(agent.message.contains("got number"))
        #expect(try rejection(mutated(top: { set(&$0, "agent_id", nil) })).field == "agent_id")
        #expect(try rejection(mutated(payload: { set(&$0, "model", .array([])) })).field == "payload.model")
        #expect(try rejection(mutated(top: { set(&$0, "sdk_version", .bool(true)) })).field == "sdk_version")
    }

    @Test func bodyAndPayloadMustBeObjects() throws {
        let body = try rejection(.array([]))
        #expect(body.field == "(body)")
        #expect(body.message.contains("array"))
        let missing = try rejection(mutated(top: { set(&$0, "payload", nil) }))
        #expect(missing.field == "payload")
        #expect(missing.message.contains("required"))
        let wrongType = try rejection(mutated(top: { set(&$0, "payload", .string("{}")) }))
        #expect(wrongType.field == "payload")
        #expect(wrongType.message.contains("object"))
    }
}

@Suite("Decision")
struct DecisionTests {
    @Test(
        "inferred from the kind's dot-segments",
        arguments: [
            ("tool.call.denied", Decision?.some(.deny)),
            ("approval.granted.batch", .allow),
            ("x.y", nil),
            ("policy.violation", .deny),
            ("budget.exceeded", .deny),
            ("run.halted", .deny),
            ("tool.allowed", .allow),
            ("granted.but.denied", .deny),  // deny wins
            ("tool.undenied", nil),  // whole segments only
            ("denied_tool", nil),
            ("", nil),
        ])
    func infer(_ kind: String, _ expected: Decision?) {
        #expect(Decision.infer(fromKind: kind) == expected)
    }
}

@Suite("WireFormat.encode")
struct WireFormatEncodeTests {
    @Test func encodeThenDecodeGivesTheSameEvent() throws {
        let event = sampleEvent()
        let json = WireFormat.encode(event, seq: event.clientSeq)
        // The sender's `signed` arrives as a claim: a receiver stores it beside its own status
        // (`unverified` until its agent_signatures processor checks the signature).
        var received = event
        received.signatureStatus = "unverified"
        received.clientSignatureStatus = "signed"
        let decoded = try WireFormat.decode(json, workflow: "wf", receivedAt: receivedAt)
        #expect(decoded == received)
        // Through text too (what the debug exporter and the platform bridge actually send).
        let reparsed = try JSONParser.parse(json.serialized())
        #expect(try WireFormat.decode(reparsed, workflow: "wf", receivedAt: receivedAt) == received)
    }

    @Test func encodeThenDecodeMinimalEvent() throws {
        let event = AuditEvent(
            eventID: UUID(uuidString: "3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90")!,
            sessionID: UUID(uuidString: "9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e")!,
            agentID: "a", kind: "x.y", createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: "wf")
        let json = WireFormat.encode(event, seq: nil)
        #expect(json["seq"] == nil)
        #expect(json["prev_hash"] == .string(""))
        #expect(json["client_hmac"] == .null)
        #expect(json["decision"] == nil)
        #expect(try WireFormat.decode(json, workflow: "wf", receivedAt: receivedAt) == event)
    }

    @Test func encodedShapeMatchesTheWireFormat() throws {
        let json = WireFormat.encode(sampleEvent(), seq: 9)
        #expect(json["event_id"] == .string("3f6c1a52-8b1e-4c3d-9a0f-2b7e5d4c1a90"))
        #expect(json["event_type"] == .string("approval.granted.batch"))
        #expect(json["seq"] == .number("9"))
        #expect(json["payload"]?["session_id"] == .string("9e2d4b6a-1c3f-4a5b-8d7e-0f1a2b3c4d5e"))
        #expect(json["payload"]?["created_at"] == .string("1969-12-31T23:59:59.999999+00:00"))
        #expect(json["payload"]?["signature_hex"] == .string("0001feff"))
        #expect(json["payload"]?["metadata"]?.serialized() == #"{"z":1.0,"a":"é\u0001"}"#)
        #expect(json["decision"] == .string("allow"))
    }
}

@Suite("AuditEvent.checkStorable")
struct CheckStorableTests {
    @Test func sampleEventIsStorable() throws {
        try sampleEvent().checkStorable()
    }

    @Test func agentIDOf257CharactersIsTooLarge() throws {
        var event = sampleEvent()
        event.agentID = String(repeating: "a", count: 257)
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == "agent_id")
        #expect(error.status == 413)
        #expect(error.message.contains("256"))
    }

    @Test func agentIDOf256MultiByteCharactersIsAccepted() throws {
        var event = sampleEvent()
        event.agentID = String(repeating: "é", count: 128) + String(repeating: "😀", count: 128)
        #expect(event.agentID.utf8.count == 128 * 2 + 128 * 4)
        try event.checkStorable()
        event.agentID += "é"
        #expect(throws: EventRejection.self) { try event.checkStorable() }
    }

    @Test func kindOf129CharactersIsTooLarge() throws {
        var event = sampleEvent()
        event.kind = String(repeating: "k", count: 129)
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == "payload.kind")
        #expect(error.status == 413)
    }

    @Test func nulInKindIsRefused() throws {
        var event = sampleEvent()
        event.kind = "tool\u{0}.call"
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == "payload.kind")
        #expect(error.status == 400)
        #expect(error.message.contains("NUL"))
    }

    @Test func nulInOtherTextColumnsIsRefused() throws {
        var event = sampleEvent()
        event.sdkVersion = "1\u{0}"
        let sdk = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(sdk.field == "sdk_version")
        event = sampleEvent()
        event.signatureStatus = "\u{0}"
        let status = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(status.field == "payload.signature_status")
    }

    @Test(
        "\\u0000 anywhere in metadata is refused, naming where",
        arguments: [
            (#"{"a":"x\u0000y"}"#, "payload.metadata.a"), (#"{"a":{"b":["ok","\u0000"]}}"#, "payload.metadata.a.b[1]"),
            (#"{"k\u0000":1}"#, "payload.metadata"),
        ])
    func nulInMetadata(_ text: String, _ field: String) throws {
        var event = sampleEvent()
        event.metadata = try JSONParser.parse(text)
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == field)
        #expect(error.message.contains("\\u0000"))
    }

    @Test func nilHMACIsRefused() throws {
        var event = sampleEvent()
        event.hmac = nil
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == "client_hmac")
        #expect(error.message.contains("required"))
    }

    @Test func emptyAgentIDIsRefused() throws {
        var event = sampleEvent()
        event.agentID = ""
        let error = try #require(throws: EventRejection.self) { try event.checkStorable() }
        #expect(error.field == "agent_id")
        #expect(error.status == 400)
    }
}
