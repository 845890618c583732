import Config
import Pipeline
import Testing
@testable import Processors

@Suite("size_cap")
struct SizeCapTests {
    let reject = SizeCapProcessor()

    private func rejection(
        _ processor: SizeCapProcessor, _ event: AuditEvent,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> EventRejection {
        try #require(throws: EventRejection.self, sourceLocation: sourceLocation) {
            try processor.process(event)
        }
    }

    @Test func defaultsAreTheSDKCaps() throws {
        let c = SizeCapConfig()
        #expect(c.agentID == 256 && c.kind == 128 && c.model == 128 && c.hashes == 128)
        #expect(c.metadataKeys == 64 && c.metadataBytes == 65536 && c.mode == .reject)
        let built = try #require(try build(SizeCapProcessor.factory) as? SizeCapProcessor)
        #expect(built.config == c)
        #expect(built.stage == .ingest)
    }

    @Test func agentIDBoundaryIs256Characters() throws {
        let ok = makeEvent(agentID: String(repeating: "a", count: 256))
        #expect(try reject.process(ok) == ok)
        let error = try rejection(reject, makeEvent(agentID: String(repeating: "a", count: 257)))
        #expect(error.field == "agent_id")
        #expect(error.status == 413)
        #expect(error.message.contains("257") && error.message.contains("256"))
    }

    @Test("lengths count Unicode scalars, not bytes or graphemes", arguments: ["é", "😀", "中"])
    func multiByteCharacters(_ character: String) throws {
        let ok = makeEvent(agentID: String(repeating: character, count: 256))
        #expect(ok.agentID.utf8.count > 256)
        #expect(try reject.process(ok) == ok)
        let error = try rejection(reject, makeEvent(agentID: String(repeating: character, count: 257)))
        #expect(error.field == "agent_id")
        #expect(error.message.contains("257 characters"))
    }

    @Test func combiningMarksCountAsCharacters() throws {
        // 128 "e + U+0301" pairs are 128 graphemes but 256 scalars, like VARCHAR counts them.
        let ok = makeEvent(agentID: String(repeating: "e\u{301}", count: 128))
        #expect(try reject.process(ok) == ok)
        #expect(throws: EventRejection.self) { try reject.process(makeEvent(agentID: ok.agentID + "e")) }
    }

    @Test(
        "each capped field is named in the refusal",
        arguments: [
            ("payload.kind", 128), ("payload.model", 128), ("payload.input_hash", 128), ("payload.output_hash", 128),
        ])
    func fieldBoundaries(_ field: String, _ limit: Int) throws {
        func event(_ length: Int) -> AuditEvent {
            let text = String(repeating: "k", count: length)
            switch field {
            case "payload.kind": return makeEvent(kind: text)
            case "payload.model": return makeEvent(model: text)
            case "payload.input_hash": return makeEvent(inputHash: text)
            default: return makeEvent(outputHash: text)
            }
        }
        let ok = event(limit)
        #expect(try reject.process(ok) == ok)
        let error = try rejection(reject, event(limit + 1))
        #expect(error.field == field)
        #expect(error.status == 413)
    }

    @Test func metadataKeyCount() throws {
        func metadata(_ keys: Int) -> JSONValue { .object((0..<keys).map { .init("k\($0)", .number("1")) }) }
        #expect(throws: Never.self) { try reject.process(makeEvent(metadata: metadata(64))) }
        let error = try rejection(reject, makeEvent(metadata: metadata(65)))
        #expect(error.field == "payload.metadata")
        #expect(error.message.contains("65 top-level keys") && error.message.contains("64"))
        // Nested keys do not count.
        let nested = JSONValue.object([.init("inner", metadata(200))])
        #expect(throws: Never.self) { try reject.process(makeEvent(metadata: nested)) }
    }

    @Test func metadataByteBoundaryIs65536() throws {
        // {"k":"…"} is the string's length plus 8 bytes.
        func metadata(_ bytes: Int) -> JSONValue { .object([.init("k", .string(String(repeating: "x", count: bytes - 8)))]) }
        #expect(metadata(65536).serialized().utf8.count == 65536)
        #expect(throws: Never.self) { try reject.process(makeEvent(metadata: metadata(65536))) }
        let error = try rejection(reject, makeEvent(metadata: metadata(65537)))
        #expect(error.field == "payload.metadata")
        #expect(error.status == 413)
        #expect(error.message.contains("65537 bytes") && error.message.contains("65536"))
    }

    @Test func byteCountMatchesSerialization() throws {
        let hostile = try JSONParser.parse(
            #"""
            {"q\"uote":"a\\b\n\r\t\u0000\u0001\u001f\u007f\u0085\u202e","e\u0301":"😀中é",
             "n":[1e1000,-0.0,123456789012345678901234567890,true,false,null,{},[]],
             "deep":{"a":{"b":{"c":[{"d":"\b\f"}]}}}}
            """#)
        #expect(SizeCapProcessor.compactByteCount(hostile) == hostile.serialized().utf8.count)
        for value: JSONValue in [.null, .bool(true), .bool(false), .number("-1.5e+10"), .string(""), .array([]), .object([])] {
            #expect(SizeCapProcessor.compactByteCount(value) == value.serialized().utf8.count)
        }
    }

    @Test func truncateModeCutsStringsToValidText() throws {
        let truncate = try #require(try build(SizeCapProcessor.factory, "mode: truncate") as? SizeCapProcessor)
        let event = makeEvent(
            agentID: String(repeating: "😀", count: 300), kind: String(repeating: "k", count: 129),
            model: String(repeating: "é", count: 200), inputHash: String(repeating: "h", count: 128))
        let out = try truncate.process(event)
        #expect(out.agentID == String(repeating: "😀", count: 256))
        #expect(out.kind.unicodeScalars.count == 128)
        #expect(out.model == String(repeating: "é", count: 128))
        #expect(out.inputHash == event.inputHash)
        // Cutting between a base and its combining mark still leaves a valid string.
        let combining = makeEvent(agentID: String(repeating: "a", count: 255) + "e\u{301}")
        #expect(try truncate.process(combining).agentID == String(repeating: "a", count: 255) + "e")
    }

    @Test func truncateModeReplacesOversizedMetadataWithAMarker() throws {
        let truncate = try #require(try build(SizeCapProcessor.factory, "mode: truncate\nmetadata_bytes: 100\nmetadata_keys: 3") as? SizeCapProcessor)
        let big = JSONValue.object([.init("k", .string(String(repeating: "x", count: 200)))])
        let out = try truncate.process(makeEvent(metadata: big))
        #expect(out.metadata.serialized() == #"{"_truncated":true,"_original_bytes":208,"_original_keys":1}"#)
        let manyKeys = JSONValue.object((0..<4).map { .init("k\($0)", .null) })
        #expect(try truncate.process(makeEvent(metadata: manyKeys)).metadata["_original_keys"] == .number("4"))
        let small = JSONValue.object([.init("k", .string("v"))])
        #expect(try truncate.process(makeEvent(metadata: small)).metadata == small)
    }

    @Test func clientChainedEventIsRejectedNotTruncated() throws {
        let truncate = try #require(try build(SizeCapProcessor.factory, "mode: truncate") as? SizeCapProcessor)
        let long = makeEvent(agentID: String(repeating: "a", count: 257), hmac: clientHMAC)
        let error = try rejection(truncate, long)
        #expect(error.field == "agent_id")
        #expect(error.status == 413)
        #expect(error.message.contains("HMAC"))

        let big = JSONValue.object([.init("k", .string(String(repeating: "x", count: 70_000)))])
        let metadataError = try rejection(truncate, makeEvent(metadata: big, hmac: clientHMAC))
        #expect(metadataError.field == "payload.metadata")
        // Under the caps, a chained event passes untouched.
        let fine = makeEvent(hmac: clientHMAC)
        #expect(try truncate.process(fine) == fine)
    }

    @Test func configErrors() throws {
        #expect(throws: ConfigError.self) { try build(SizeCapProcessor.factory, "mode: clip") }
        #expect(throws: ConfigError.self) { try build(SizeCapProcessor.factory, "agent_id: 300") }
        #expect(throws: ConfigError.self) { try build(SizeCapProcessor.factory, "agent_ids: 10") }
        let custom = try #require(try build(SizeCapProcessor.factory, "agent_id: 10\nmetadata_bytes: 1KiB") as? SizeCapProcessor)
        #expect(custom.config.agentID == 10 && custom.config.metadataBytes == 1024)
    }
}
