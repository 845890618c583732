import Crypto
import Foundation
@testable import Pipeline
import Testing

@Suite("the SDK's HMAC chain, bit for bit")
struct AuditChainTests {
    /// Expected values printed by CPython 3.11: json.dumps(json.loads(text)).
    @Test(
        "numbers are re-printed as Python prints them after json.loads",
        arguments: [
            ("1.50", "1.5"), ("1e16", "1e+16"), ("1e+16", "1e+16"), ("1E-7", "1e-07"), ("0.1", "0.1"),
            ("123.456", "123.456"), ("1e15", "1000000000000000.0"), ("9007199254740993.0", "9007199254740992.0"),
            ("1e-4", "0.0001"), ("1e-5", "1e-05"), ("-2.5e-3", "-0.0025"), ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"), ("100.0", "100.0"),
            ("3.14159265358979323846", "3.141592653589793"), ("0.30000000000000004", "0.30000000000000004"),
            ("1e22", "1e+22"), ("12345678901234567.0", "1.2345678901234568e+16"),
            ("42", "42"), ("-0", "0"), ("123456789012345678901234567890", "123456789012345678901234567890"),
        ])
    func pythonNumbers(_ input: String, _ python: String) {
        #expect(JSONValue.number(input).pythonNormalized() == .number(python))
    }

    @Test("canonical bytes and HMAC match Python's json.dumps(sort_keys=True) and hmac.new(...).hexdigest()")
    func matchesPython() throws {
        let metadata = try JSONParser.parse(#"{"z":1,"a":[1.5,"x\n😀"],"B":{"y":null,"x":true}}"#)
        let event = AuditEvent(
            eventID: UUID(uuidString: "6f1c2b1e-8a47-4a8e-9a55-0c7d5b0e2f11")!,
            sessionID: UUID(uuidString: "0b6b1f0e-2f5a-4c1e-8d3e-5a6b7c8d9e0f")!,
            agentID: "agent-é", kind: "tool.call", model: "gpt-x", outputHash: "ab", metadata: metadata,
            createdAt: Timestamp(iso8601: "2026-01-02T03:04:05.000120+00:00")!, workflow: "w")
        let expected =
            #"{"agent_id":"agent-\u00e9","created_at":"2026-01-02T03:04:05.000120+00:00","event_id":"6f1c2b1e-8a47-4a8e-9a55-0c7d5b0e2f11","input_hash":null,"kind":"tool.call","metadata":{"B":{"x":true,"y":null},"a":[1.5,"x\n\ud83d\ude00"],"z":1},"model":"gpt-x","output_hash":"ab","parent_event_id":null,"prev_hash":null,"session_id":"0b6b1f0e-2f5a-4c1e-8d3e-5a6b7c8d9e0f"}"#
        #expect(String(decoding: AuditChain.canonical(event), as: UTF8.self) == expected)
        let key = SymmetricKey(data: Data("test-audit-secret-0123456789abcdef".utf8))
        #expect(AuditChain.hmac(event, key: key) == "14c3da379462f40f4802d66390c3e8d24af5a4831d971d15c234f02f96ff75e3")
    }

    @Test("the advisory-lock key is the session UUID's first 8 bytes as a signed big-endian integer")
    func advisoryLockKey() {
        #expect(UUID(uuidString: "00000000-0000-0001-ffff-ffffffffffff")!.advisoryLockKey == 1)
        #expect(UUID(uuidString: "ffffffff-ffff-fffe-0000-000000000000")!.advisoryLockKey == -2)
        #expect(UUID(uuidString: "0b6b1f0e-2f5a-4c1e-8d3e-5a6b7c8d9e0f")!.advisoryLockKey == 0x0b6b_1f0e_2f5a_4c1e)
    }
}
