import Config
import Pipeline
import Testing
@testable import Processors

@Suite("sanitize")
struct SanitizeTests {
    let processor = SanitizeProcessor()

    private func value(_ s: String, max: Int = 2048) -> String {
        Sanitizer.sanitizeValue(s, maxLength: max) ?? s
    }

    /// Expected outputs produced by the reference SDK's `sanitize_string` (sanitization.py) for
    /// the same inputs.
    @Test(
        "same result as the SDK's sanitize_string",
        arguments: [
            ("a\\b\nc\rd\te", "a\\\\b\\nc\\rd\\te"),
            ("\u{0}nul\u{1}\u{1b}[31mred\u{7f}", "nul[31mred"),
            ("e\u{301}", "\u{e9}"),
            ("A\u{30a}", "\u{c5}"),
            ("\u{1100}\u{1161}", "\u{ac00}"),
            ("tab\\tnot", "tab\\\\tnot"),
            ("\u{344}x", "\u{308}\u{301}x"),
            ("a\u{b}\u{c}b\u{1f}c", "abc"),
            ("caf\u{e9} \u{1F600}", "caf\u{e9} \u{1F600}"),
        ])
    func matchesSDK(_ input: String, _ expected: String) {
        let out = value(input)
        #expect(Array(out.unicodeScalars) == Array(expected.unicodeScalars))
    }

    /// Long runs of combining marks that decompose: Foundation's CoreFoundation-based NFC on
    /// Linux drops marks here; the results below are Python's `unicodedata.normalize("NFC", …)`.
    @Test func nfcOfLongCombiningRunsLosesNothing() {
        let expanded = value(String(repeating: "\u{344}", count: 200))
        #expect(Array(expanded.unicodeScalars) == Array(String(repeating: "\u{308}\u{301}", count: 200).unicodeScalars))

        let group: [UInt32] = [0x30D, 0x30E, 0x304, 0x305, 0x33F, 0x311, 0x306, 0x310, 0x352, 0x357, 0x351, 0x307, 0x308, 0x30A, 0x342, 0x343, 0x344]
        let normalizedGroup: [UInt32] = group.flatMap { $0 == 0x343 ? [0x313] : $0 == 0x344 ? [0x308, 0x301] : [$0] }
        func text(_ scalars: [UInt32]) -> String { String(String.UnicodeScalarView(scalars.map { Unicode.Scalar($0)! })) }
        let zalgo = value("Z" + String(repeating: text(group), count: 10) + "algo")
        #expect(zalgo.unicodeScalars.count == 185)
        #expect(Array(zalgo.unicodeScalars) == Array(("Z" + String(repeating: text(normalizedGroup), count: 10) + "algo").unicodeScalars))

        // Canonical reordering across a long run (ccc 220 before 230), then composition with the starter.
        let reordered = value("a" + String(repeating: "\u{340}\u{316}", count: 40))
        #expect(
            Array(reordered.unicodeScalars)
                == Array(
                    ("\u{E0}" + String(repeating: "\u{316}", count: 40)
                        + String(repeating: "\u{300}", count: 39)).unicodeScalars))
    }

    @Test func cleanStringsAreNotCopied() {
        #expect(Sanitizer.sanitizeValue("plain ascii, punctuation: {}[]\"'", maxLength: 2048) == nil)
        #expect(Sanitizer.sanitizeValue("café 😀 中文", maxLength: 2048) == nil)
        #expect(Sanitizer.sanitizeKey("C:\\dir") == nil)
    }

    @Test func capIsAppliedAfterNFCAndBeforeEscaping() {
        // SDK: "x"*2047 + "\n" keeps both, then escapes to 2049 characters.
        #expect(value(String(repeating: "x", count: 2047) + "\n") == String(repeating: "x", count: 2047) + "\\n")
        // 2049 backslashes: cut to 2048, then doubled.
        #expect(value(String(repeating: "\\", count: 2049)) == String(repeating: "\\", count: 4096))
        // 1500 decomposed é are 3000 scalars but 1500 after NFC: nothing is cut.
        #expect(value(String(repeating: "e\u{301}", count: 1500)) == String(repeating: "\u{e9}", count: 1500))
        #expect(value(String(repeating: "y", count: 2049)).unicodeScalars.count == 2048)
    }

    @Test func stripsWhatTheSDKMisses() {
        // C1 controls (CSI U+009B is an 8-bit escape introducer) and bidi overrides/isolates.
        #expect(value("a\u{80}b\u{85}c\u{9b}31md\u{9f}") == "abc31md")
        #expect(value("invoice_\u{202e}fdp.exe") == "invoice_fdp.exe")
        #expect(value("\u{202a}\u{202b}\u{202c}\u{202d}x\u{2066}\u{2067}\u{2068}\u{2069}") == "x")
        // Neighbours of the stripped ranges stay.
        #expect(value("\u{a0}\u{2029}\u{202f}\u{2065}\u{206a}") == "\u{a0}\u{2029}\u{202f}\u{2065}\u{206a}")
    }

    @Test func maxStringLengthIsConfigurable() throws {
        let short = try #require(try build(SanitizeProcessor.factory, "max_string_length: 4") as? SanitizeProcessor)
        let out = try short.process(makeEvent(metadata: .object([.init("k", .string("abcdefgh"))])))
        #expect(out.metadata["k"] == .string("abcd"))
        let defaults = try #require(try build(SanitizeProcessor.factory) as? SanitizeProcessor)
        #expect(defaults.sanitizer.maxStringLength == 2048)
        #expect(throws: ConfigError.self) { try build(SanitizeProcessor.factory, "max_len: 4") }
        #expect(throws: ConfigError.self) { try build(SanitizeProcessor.factory, "max_string_length: 0") }
    }

    @Test func sanitizesTheFieldsTheSDKSanitizes() throws {
        let event = makeEvent(
            agentID: "agent\u{1b}[2J\u{202e}", kind: "tool\u{0}.call", model: "gpt\tx",
            inputHash: "ab\u{7f}cd", outputHash: "e\u{301}f",
            metadata: .object([.init("note", .string("line1\nline2"))]))
        let out = try processor.process(event)
        #expect(out.agentID == "agent[2J")
        #expect(out.kind == "tool.call")
        #expect(out.model == "gpt\\tx")
        #expect(out.inputHash == "abcd")
        #expect(out.outputHash == "\u{e9}f")
        #expect(out.metadata["note"] == .string("line1\\nline2"))
        #expect(out.eventID == event.eventID && out.sessionID == event.sessionID)
    }

    @Test func fieldCapsCatchNFCExpansion() throws {
        // 200 U+0344 pass size_cap (200 characters) but NFC expands each into two: the SDK's
        // field cap of 256 applies after NFC.
        let out = try processor.process(makeEvent(agentID: String(repeating: "\u{344}", count: 200)))
        #expect(out.agentID.unicodeScalars.count == 256)
    }

    @Test func keysAreNormalizedAndStrippedButNotEscaped() throws {
        let metadata = JSONValue.object([
            .init("a\nb", .number("1")),
            .init("k\u{202e}\u{85}", .string("v")),
            .init("e\u{301}", .bool(true)),
            .init("C:\\dir", .string("C:\\dir")),
        ])
        let out = try processor.process(makeEvent(metadata: metadata))
        guard case .object(let members) = out.metadata else { Issue.record("not an object"); return }
        #expect(members.map { Array($0.key.unicodeScalars) } == ["ab", "k", "\u{e9}", "C:\\dir"].map { Array($0.unicodeScalars) })
        #expect(members[3].value == .string("C:\\\\dir"))
    }

    @Test func numbersAndLiteralsAreUntouched() throws {
        let metadata = try JSONParser.parse(#"{"big":1e1000,"n":123456789012345678901234567890.000,"f":-0.0,"t":true,"z":null}"#)
        let out = try processor.process(makeEvent(metadata: metadata))
        #expect(out.metadata == metadata)
        #expect(out.metadata.serialized() == metadata.serialized())
    }

    @Test func recursesToTheParsersDepthLimit() throws {
        let depth = JSONParser.defaultMaxDepth
        // 63 arrays around one object: 64 levels, the deepest the parser accepts.
        let text = String(repeating: "[", count: depth - 1) + #"{"k\u0007":"a\u0000b\u202ec"}"# + String(repeating: "]", count: depth - 1)
        let parsed = try JSONParser.parse(text)
        #expect(throws: JSONParseError.self) { try JSONParser.parse("[" + text + "]") }
        let out = try #require(processor.sanitizer.sanitize(parsed))
        let expected = String(repeating: "[", count: depth - 1) + #"{"k":"abc"}"# + String(repeating: "]", count: depth - 1)
        #expect(out.serialized() == expected)
    }

    @Test func clientChainedEventsPassUntouched() throws {
        let event = makeEvent(
            agentID: "agent\u{0}\u{1b}", kind: "k\u{202e}", model: "m\n",
            metadata: .object([.init("k\n", .string("e\u{301}\u{85}"))]), hmac: clientHMAC)
        let out = try processor.process(event)
        #expect(out == event)
        #expect(out.agentID.utf8.elementsEqual(event.agentID.utf8))
        #expect(out.metadata.serialized() == event.metadata.serialized())
    }

    @Test func unchangedEventsKeepTheirMetadataStorage() throws {
        let event = makeEvent(metadata: .object([.init("k", .array([.string("clean"), .number("1")]))]))
        #expect(processor.sanitizer.sanitize(event.metadata) == nil)
        #expect(try processor.process(event) == event)
    }
}
