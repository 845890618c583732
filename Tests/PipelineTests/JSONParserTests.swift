import Testing
@testable import Pipeline

/// Parses `text`, expecting a failure, and returns the error for inspection.
private func parseFailure(
    _ text: String, maxDepth: Int = JSONParser.defaultMaxDepth,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> JSONParseError {
    try parseFailure(Array(text.utf8), maxDepth: maxDepth, sourceLocation: sourceLocation)
}

private func parseFailure(
    _ bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> JSONParseError {
    try #require(throws: JSONParseError.self, sourceLocation: sourceLocation) {
        try JSONParser.parse(bytes, maxDepth: maxDepth)
    }
}

private func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
    String(repeating: open, count: depth) + String(repeating: close, count: depth)
}

@Suite("JSONParser: accepted input")
struct JSONParserAcceptTests {
    @Test(
        "numbers keep their exact text",
        arguments: [
            "1.0", "1e+16", "-0", "12345678901234567890123", "0", "-0.0", "1E-7", "3.14159265358979323846264338327950288",
            "1e1000", "-1e-1000",
        ])
    func numberTextIsKept(_ text: String) throws {
        let value = try JSONParser.parse(text)
        #expect(value == .number(text))
        #expect(value.serialized() == text)
        #expect(value.serialized(.pythonCanonical) == text)
    }

    @Test func numbersWithDifferentTextAreDifferentValues() throws {
        #expect(try JSONParser.parse("1.0") != JSONParser.parse("1"))
        #expect(try JSONParser.parse("1e+16") != JSONParser.parse("1e16"))
        #expect(try JSONParser.parse("-0") != JSONParser.parse("0"))
    }

    @Test func compactDocumentRoundTripsByteForByte() throws {
        let text = #"{"z":[1.0,1e+16,-0,12345678901234567890123],"a":{"y":null,"x":true,"w":false},"m":"text","b":[]}"#
        let value = try JSONParser.parse(text)
        #expect(value.serialized() == text)
        // Parsing the output again gives the same value.
        #expect(try JSONParser.parse(value.serialized()) == value)
    }

    @Test func whitespaceIsDroppedButNothingElseChanges() throws {
        let value = try JSONParser.parse(" {\n\t\"b\" : [ 1.50 , 2e-3 ] ,\r\n \"a\" : { } } \n")
        #expect(value.serialized() == #"{"b":[1.50,2e-3],"a":{}}"#)
    }

    @Test func objectKeyOrderIsPreserved() throws {
        let value = try JSONParser.parse(#"{"zeta":1,"alpha":2,"Mid":3,"é":4,"beta":5}"#)
        guard case .object(let members) = value else {
            Issue.record("expected an object, got \(value.typeName)")
            return
        }
        #expect(members.map(\.key) == ["zeta", "alpha", "Mid", "é", "beta"])
        #expect(value.serialized() == #"{"zeta":1,"alpha":2,"Mid":3,"é":4,"beta":5}"#)
    }

    @Test func duplicateKeysAreKeptInOrder() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value == .object([.init("a", .number("1")), .init("b", .number("2")), .init("a", .number("3"))]))
        #expect(value.serialized() == #"{"a":1,"b":2,"a":3}"#)
        // Lookup by key finds the first occurrence.
        #expect(value["a"] == .number("1"))
    }

    @Test func literalsAndTypes() throws {
        let value = try JSONParser.parse(#"[true,false,null,"s",1,[],{}]"#)
        guard case .array(let items) = value else {
            Issue.record("expected an array")
            return
        }
        #expect(items.map(\.typeName) == ["boolean", "boolean", "null", "string", "number", "array", "object"])
        #expect(items[2].isNull)
        #expect(items[3].stringValue == "s")
        #expect(items[4].stringValue == nil)
    }

    @Test func surrogatePairBecomesOneScalar() throws {
        let value = try JSONParser.parse(#""\ud83d\ude00""#)
        #expect(value == .string("😀"))
        #expect(value.stringValue?.unicodeScalars.count == 1)
        // Upper-case hex digits are accepted too.
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#) == .string("😀"))
    }

    @Test func escapesAreDecoded() throws {
        let value = try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\u0000""#)
        #expect(value == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té\u{0}"))
    }

    @Test func rawMultiByteUTF8IsAccepted() throws {
        let value = try JSONParser.parse(Array("\"é😀中\"".utf8))
        #expect(value == .string("é😀中"))
    }

    @Test func byteOrderMarkIsSkipped() throws {
        let value = try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8))
        #expect(value == .object([.init("a", .number("1"))]))
    }

    @Test func nestingUpToMaxDepthIsAccepted() throws {
        let value = try JSONParser.parse(nested(JSONParser.defaultMaxDepth))
        #expect(value.serialized() == nested(JSONParser.defaultMaxDepth))
        #expect(try JSONParser.parse(#"{"k":{"k":{"k":1}}}"#, maxDepth: 3)["k"]?["k"]?["k"] == .number("1"))
    }

    @Test func numberOfExactly512CharactersIsAccepted() throws {
        let text = "1" + String(repeating: "0", count: 511)
        #expect(try JSONParser.parse(text) == .number(text))
    }
}

@Suite("JSONParser: rejected input")
struct JSONParserRejectTests {
    @Test func invalidUTF8InStringIsRejected() throws {
        let error = try parseFailure([0x22, 0xC3, 0x28, 0x22])
        #expect(error.message.contains("UTF-8"))
        #expect(error.offset == 1)
        #expect(error.description.contains("at byte 1"))
    }

    @Test func invalidUTF8AfterAnEscapeIsRejected() throws {
        // The slow path (string containing an escape) validates too.
        let error = try parseFailure([0x22, 0x5C, 0x6E, 0xFF, 0x22])
        #expect(error.message.contains("UTF-8"))
    }

    @Test func overlongAndSurrogateUTF8EncodingsAreRejected() throws {
        // Overlong "/" and a UTF-8-encoded surrogate U+D800 are both invalid UTF-8.
        #expect(try parseFailure([0x22, 0xC0, 0xAF, 0x22]).message.contains("UTF-8"))
        #expect(try parseFailure([0x22, 0xED, 0xA0, 0x80, 0x22]).message.contains("UTF-8"))
    }

    @Test func loneHighSurrogateIsRejected() throws {
        let error = try parseFailure(#""\ud800""#)
        #expect(error.message.contains("surrogate"))
        #expect(error.offset == 7)
    }

    @Test func highSurrogateFollowedByNonLowSurrogateIsRejected() throws {
        let error = try parseFailure(#""\ud800\u0041""#)
        #expect(error.message.contains("low surrogate"))
    }

    @Test func loneLowSurrogateIsRejected() throws {
        let error = try parseFailure(#""\udc00""#)
        #expect(error.message.contains("lone low surrogate"))
    }

    @Test("raw control characters in strings are rejected", arguments: [UInt8(0x00), 0x01, 0x0A, 0x09, 0x1F])
    func rawControlCharacterIsRejected(_ byte: UInt8) throws {
        let error = try parseFailure([0x22, 0x61, byte, 0x62, 0x22])
        #expect(error.message.contains("control character"))
        #expect(error.offset == 2)
    }

    @Test func rawControlCharacterAfterAnEscapeIsRejected() throws {
        let error = try parseFailure([0x22, 0x5C, 0x6E, 0x0A, 0x22])
        #expect(error.message.contains("control character"))
        #expect(error.offset == 3)
    }

    @Test func trailingGarbageIsRejected() throws {
        let error = try parseFailure(#"{"a":1} x"#)
        #expect(error.message.contains("after the JSON value"))
        #expect(error.offset == 8)
        #expect(try parseFailure("[1][2]").offset == 3)
    }

    @Test("empty or blank bodies are rejected", arguments: ["", " ", "\n\t\r "])
    func emptyBodyIsRejected(_ text: String) throws {
        let error = try parseFailure(text)
        #expect(error.message.contains("empty"))
        #expect(error.offset == text.utf8.count)
    }

    @Test func bomAloneIsAnEmptyBody() throws {
        #expect(try parseFailure([0xEF, 0xBB, 0xBF]).message.contains("empty"))
    }

    @Test func nestingDeeperThanMaxDepthIsRejected() throws {
        let error = try parseFailure(nested(65))
        #expect(error.message.contains("nesting"))
        #expect(error.message.contains("64"))
        #expect(error.offset == 64)
    }

    @Test func nestingLimitCountsObjectsAndCustomDepth() throws {
        let objects = String(repeating: #"{"k":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(try parseFailure(objects).message.contains("nesting"))
        let mixed = #"[{"a":[1]}]"#
        #expect(try JSONParser.parse(mixed, maxDepth: 3).serialized() == mixed)
        let error = try parseFailure(mixed, maxDepth: 2)
        #expect(error.message.contains("nesting deeper than 2"))
        #expect(error.offset == 6)
    }

    @Test func leadingZerosAreRejected() throws {
        let error = try parseFailure("01")
        #expect(error.offset == 1)
        #expect(!error.message.isEmpty)
        #expect(try parseFailure("[01]").message.contains("expected ','"))
        #expect(try parseFailure("-01").offset == 2)
    }

    @Test(
        "malformed numbers are rejected",
        arguments: [
            ("1.", "digits expected after '.'"), ("-", "invalid number"), ("-a", "invalid number"), (".5", "unexpected character"),
            ("1e", "exponent"), ("1e+", "exponent"), ("+1", "unexpected character"), ("0x10", "after the JSON value"),
            ("NaN", "unexpected character"), ("Infinity", "unexpected character"),
        ])
    func malformedNumberIsRejected(_ text: String, _ fragment: String) throws {
        let error = try parseFailure(text)
        #expect(error.message.contains(fragment), "\(error)")
    }

    @Test func exponentBeyond1000IsRejected() throws {
        let error = try parseFailure("1e1001")
        #expect(error.message.contains("exponent"))
        #expect(error.message.contains("1000"))
        #expect(error.offset == 0)
        let negative = try parseFailure("[0, -2.5E-1001]")
        #expect(negative.message.contains("-1000"))
        #expect(negative.offset == 4)
        // Leading zeros in the exponent do not hide its size, and do not trip the check when small.
        #expect(try parseFailure("1e000000000000000000001001").message.contains("exponent"))
        #expect(try JSONParser.parse("1e0000000000000000000001000") == .number("1e0000000000000000000001000"))
    }

    @Test func numberLongerThan512CharactersIsRejected() throws {
        let text = "1" + String(repeating: "0", count: 512)
        let error = try parseFailure("[" + text + "]")
        #expect(error.message.contains("512"))
        #expect(error.offset == 1)
    }

    @Test(
        "structural errors are reported",
        arguments: [
            (#"{"a" 1}"#, "expected ':'"), (#"{a:1}"#, "quoted object key"), (#"{"a":1,}"#, "quoted object key"),
            ("[1,]", "expected a JSON value"), ("[1 2]", "expected ',' or ']'"), (#"{"a":1"#, "unterminated object"),
            ("[1", "unterminated array"), (#""abc"#, "unterminated string"), ("tru", "end of input"), ("nul1", "invalid literal"),
            (#""\x""#, "invalid escape"), (#""\u12""#, "\\u escape"), (#""\u12G4""#, "invalid hex digit"),
        ])
    func structuralErrors(_ text: String, _ fragment: String) throws {
        let error = try parseFailure(text)
        #expect(error.message.contains(fragment), "\(error)")
        #expect(error.offset >= 0 && error.offset <= text.utf8.count)
    }
}

@Suite("JSONParser: NDJSON")
struct JSONParserLinesTests {
    @Test func parsesLinesSkippingBlankOnes() throws {
        let body = Array("{\"a\":1}\n\n   \n[2.0]\r\n\"x\"\n\t\n".utf8)
        let values = try JSONParser.parseLines(body)
        #expect(values == [.object([.init("a", .number("1"))]), .array([.number("2.0")]), .string("x")])
    }

    @Test func lastLineWithoutNewlineIsParsed() throws {
        #expect(try JSONParser.parseLines(Array("1\n2".utf8)) == [.number("1"), .number("2")])
        #expect(try JSONParser.parseLines([]) == [])
    }

    @Test func errorOnLine2NamesLine2WithAbsoluteOffset() throws {
        let body = Array("{}\n{bad}\n{}\n".utf8)
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parseLines(body) }
        #expect(error.message.contains("line 2"))
        #expect(error.message.contains("quoted object key"))
        #expect(error.offset == 4)  // byte 4 of the body is `b`
        #expect(body[error.offset] == UInt8(ascii: "b"))
    }

    @Test func lineNumberCountsBlankLines() throws {
        // A client reads "line N" as the N-th line of what it sent, blank lines included.
        let body = Array("{}\n\n{}\n[1,]\n".utf8)
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parseLines(body) }
        #expect(error.message.contains("line 4"), "\(error)")
        #expect(error.offset == 10)
        #expect(body[error.offset] == UInt8(ascii: "]"))
    }

    @Test func eachLineIsOneDocument() throws {
        // A value may not span lines in NDJSON.
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parseLines(Array("[1,\n2]\n".utf8)) }
        #expect(error.message.contains("line 1"))
    }
}

@Suite("JSONValue: Python-canonical serialization")
struct JSONCanonicalTests {
    // Every expected string below was produced by
    // python3 -c 'import json; print(json.dumps(obj, sort_keys=True, separators=(",",":")))'

    @Test func nestedKeysSortedByCodePointAtEveryLevel() throws {
        // obj = {"b": {"z": 1, "a": [{"y": True, "x": None}]}, "a": "é", "B": "😀",
        //        "é": "\x7f\n\t\b\f\x01\"\\", "\u0100": 1.5}
        let value = try JSONParser.parse(
            #"{"b":{"z":1,"a":[{"y":true,"x":null}]},"a":"é","B":"😀","é":"\u007f\n\t\b\f\u0001\"\\","\u0100":1.5}"#)
        #expect(
            value.serialized(.pythonCanonical)
                == #"{"B":"\ud83d\ude00","a":"\u00e9","b":{"a":[{"x":null,"y":true}],"z":1},"\u00e9":"\u007f\n\t\b\f\u0001\"\\","\u0100":1.5}"#)
    }

    @Test func keysSortedByCodePoint() throws {
        let value = JSONValue.object([.init("b", .number("1")), .init("a", .number("2")), .init("B", .number("3")), .init("é", .number("4"))])
        #expect(value.serialized(.pythonCanonical) == #"{"B":3,"a":2,"b":1,"\u00e9":4}"#)
        // Without options: order and characters as given.
        #expect(value.serialized() == #"{"b":1,"a":2,"B":3,"é":4}"#)
    }

    @Test func astralKeysSortByCodePointNotUTF16() throws {
        // Python: {"\uffff":1, "\U0001F600":2, "\ue000":3} -> {"\ue000":3,"\uffff":1,"\ud83d\ude00":2}
        // (UTF-16 order would put the emoji's surrogates before U+E000.)
        let value = JSONValue.object([.init("\u{FFFF}", .number("1")), .init("😀", .number("2")), .init("\u{E000}", .number("3"))])
        #expect(value.serialized(.pythonCanonical) == #"{"\ue000":3,"\uffff":1,"\ud83d\ude00":2}"#)
    }

    @Test(
        "strings escape like ensure_ascii=True",
        arguments: [
            ("é", #""\u00e9""#),
            ("😀", #""\ud83d\ude00""#),
            ("\u{7F}", #""\u007f""#),
            ("\n", #""\n""#), ("\t", #""\t""#), ("\u{08}", #""\b""#), ("\u{0C}", #""\f""#), ("\r", #""\r""#),
            ("\u{01}", #""\u0001""#), ("\u{1F}", #""\u001f""#), ("\u{0}", #""\u0000""#),
            ("\"", #""\"""#), ("\\", #""\\""#), ("/", #""/""#),
            ("\u{2028}", #""\u2028""#), ("\u{FFFF}\u{10FFFF}", #""\uffff\udbff\udfff""#),
            ("plain ASCII ~!", #""plain ASCII ~!""#),
        ])
    func stringEscapes(_ input: String, _ expected: String) {
        #expect(JSONValue.string(input).serialized(.pythonCanonical) == expected)
    }

    @Test func canonicalOutputIsParsableBackToTheSameValue() throws {
        let original = JSONValue.object([
            .init("k", .string("é😀\u{7F}\n\u{01}\"\\")),
            .init("n", .array([.number("1.0"), .bool(false), .null])),
        ])
        let text = original.serialized(.pythonCanonical)
        #expect(text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
        #expect(try JSONParser.parse(text) == original)
    }

    @Test func sortingIsStableForDuplicateKeys() {
        let value = JSONValue.object([.init("b", .number("1")), .init("a", .number("2")), .init("b", .number("3"))])
        #expect(value.serialized(.pythonCanonical) == #"{"a":2,"b":1,"b":3}"#)
    }

    /// Python's `json.dumps(s)` and `json.dumps(s, ensure_ascii=False)` of each, whether the
    /// string is copied whole (nothing to escape) or escaped byte by byte.
    @Test(arguments: [
        ("agent-7 3f2a", #""agent-7 3f2a""#, #""agent-7 3f2a""#), ("say \"hi\"", #""say \"hi\"""#, #""say \"hi\"""#),
        ("a\\b", #""a\\b""#, #""a\\b""#), ("del\u{7f}", #""del\u007f""#, "\"del\u{7f}\""), ("tab\there", #""tab\there""#, #""tab\there""#),
        ("é😀", #""\u00e9\ud83d\ude00""#, "\"é😀\""), ("", #""""#, #""""#),
    ])
    func stringsAsPythonWritesThem(text: String, asciiOnly: String, utf8: String) {
        #expect(JSONValue.string(text).serialized(.init(asciiOnly: true)) == asciiOnly)
        #expect(JSONValue.string(text).serialized() == utf8)
    }

    @Test func defaultOptionsKeepUTF8AndEscapeControlCharacters() {
        let value = JSONValue.string("é😀\u{01}\n\"")
        #expect(value.serialized() == "\"é😀\\u0001\\n\\\"\"")
    }
}
