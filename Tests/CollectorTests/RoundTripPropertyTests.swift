import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// SplitMix64: a small seeded generator, so every run draws the same cases and a failure repeats.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D1_049B_B133_111E
        return z ^ (z >> 31)
    }
}

/// The property behind "nothing accepted is unverifiable": every JSON number and string is either
/// refused at ingest, naming its field, or stored such that its row verifies and exports. The
/// emulation of `jsonb`'s number text is checked against PostgreSQL itself and Python's reading
/// against Python itself, on the same generated cases.
@Suite("JSON values either refused or stored verifiably (property)")
struct RoundTripPropertyTests {
    static func numbers(_ count: Int, seed: UInt64) -> [String] {
        var rng = SeededGenerator(state: seed)
        func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) }) }
        return (0..<count).map { _ in
            var text = Bool.random(using: &rng) ? "-" : ""
            let whole = Int.random(in: 0...22, using: &rng)
            text += whole == 0 ? "0" : String(Int.random(in: 1...9, using: &rng)) + digits(whole - 1)
            if Bool.random(using: &rng) { text += "." + digits(Int.random(in: 1...20, using: &rng)) }
            if Int.random(in: 0..<3, using: &rng) == 0 {
                text += ["e", "E"].randomElement(using: &rng)! + ["", "+", "-"].randomElement(using: &rng)!
                text += String(Int.random(in: 0...[3, 30, 400].randomElement(using: &rng)!, using: &rng))
            }
            return text
        }
    }

    static func strings(_ count: Int, seed: UInt64) -> [String] {
        var rng = SeededGenerator(state: seed)
        // Controls (C0, DEL, C1), bidi and line separators, quotes, non-BMP, non-characters, NUL.
        let pool: [UInt32] = [
            0x0, 0x1, 0x9, 0xA, 0xD, 0x1B, 0x22, 0x5C, 0x2F, 0x7F, 0x85, 0x9B, 0xA0, 0xE9, 0x202E, 0x2066, 0x2028,
            0xFEFF, 0xFFFD, 0xFFFF, 0x1F600, 0x10FFFF, 0x61, 0x7A, 0x20,
        ]
        return (0..<count).map { _ in
            String(
                String.UnicodeScalarView(
                    (0..<Int.random(in: 0...12, using: &rng)).map { _ in
                        Unicode.Scalar(pool.randomElement(using: &rng)!)!
                    }))
        }
    }

    @Test("jsonb's stored text of 3,000 generated numbers is what PostgreSQL prints, and Python reads them as the emulation says")
    func numberTextMatchesPostgresAndPython() async throws {
        let cases = Self.numbers(3000, seed: 29)
        let dsn = try await newDatabase()
        let rows = try PGConnection(dsn: dsn).exec(
            "SELECT t::jsonb::text FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            ["{" + cases.map { "\"\($0)\"" }.joined(separator: ",") + "}"]
        ).rows
        let postgres = rows.map { $0[0] ?? "" }
        let mismatches = zip(cases, postgres).filter { JSONBRoundTrip.stored(number: $0) != $1 }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5))")

        // Python's json.loads then json.dumps of each text, as the SDK's verifier reads metadata.
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("gc-numbers-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: input) }
        try (cases + postgres).joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let python = try await runCommand([
            "python3", "-c", "import json,sys\nfor line in open(sys.argv[1]): print(json.dumps(json.loads(line)))", input,
        ])
        #expect(python.status == 0, "\(python.output.prefix(500))")
        let read = python.output.split(separator: "\n").map(String.init)
        try #require(read.count == 2 * cases.count)
        let expected = (cases + postgres).map { JSONValue.pythonNumber($0) }
        let wrong = zip(zip(cases + postgres, expected), read).filter { $0.1 != $1 && !$1.contains("Infinity") }
        #expect(wrong.isEmpty, "Python reads differently: \(wrong.prefix(5))")
    }

    @Test("every generated number and string is refused naming its field, or stored so that verify and export pass")
    func acceptedValuesVerify() async throws {
        let numbers = Self.numbers(400, seed: 7), strings = Self.strings(400, seed: 11)
        var values: [(text: String, field: String)] = numbers.map { ($0, "n") }
        var rng = SeededGenerator(state: 13)
        for s in strings {
            var encoded: [UInt8] = []
            JSONValue.writeString(s, into: &encoded, asciiOnly: Bool.random(using: &rng))
            values.append((String(decoding: encoded, as: UTF8.self), "s"))
        }
        let dsn = try await newDatabase()
        var refused = 0, stored = 0
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let session = UUID()
            for chunk in stride(from: 0, to: values.count, by: 200).map({ Array(values[$0..<min($0 + 200, values.count)]) }) {
                let batch = chunk.map { value in
                    [
                        unchainedEvent(session: session, metadata: "{\"\(value.field)\":\(value.text)}"),
                        IntegrityTests.sdkEvent(session: UUID(), metadata: "{\"\(value.field)\":\(value.text)}"),
                    ]
                }.flatMap { $0 }
                let answer = try await post(collector.batchURL, "[" + batch.joined(separator: ",") + "]")
                guard case .array(let results)? = try parseJSON(answer)["results"] else { Issue.record("\(answer.text)"); return }
                for (index, result) in results.enumerated() {
                    let value = chunk[index / 2]
                    switch result["status"]?.stringValue {
                    case "stored": stored += 1
                    case "rejected":
                        refused += 1
                        #expect(result["field"]?.stringValue == "payload.metadata.\(value.field)", "\(value.text): \(result)")
                    default: Issue.record("\(value.text): \(result)")
                    }
                }
            }
        }
        #expect(refused > 0 && stored > 0, "the cases include both: \(refused) refused, \(stored) stored")
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("checked \(stored) rows"), "\(verified.output.prefix(2000))")
        let exported = try await runCommand([BinaryTests.binary, "export", "--dsn", dsn, "--format", "ndjson"])
        #expect(exported.status == 0 && exported.output.contains("export: \(stored) events"), "\(exported.output.suffix(500))")
    }
}
