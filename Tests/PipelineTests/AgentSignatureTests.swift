import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// A fresh Ed25519 key made by Python `cryptography` (Tests/interop/sdk_signatures.py fixture):
/// its PEM, the SDK's fingerprint rule applied by Python, and a signature of random bytes.
private func pythonFixture() async throws -> (pem: String, fingerprint: String, message: [UInt8], signature: [UInt8]) {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let python = tests.deletingLastPathComponent().appendingPathComponent(".build/interop-venv/bin/python").path
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("gc-key-\(UUID()).json").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    let status = try await ChildProcess.spawn([python, tests.appendingPathComponent("interop/sdk_signatures.py").path, "fixture"], outputPath: out)
        .exitStatus()
    let text = try String(contentsOfFile: out, encoding: .utf8)
    #expect(status == 0, "\(text)")
    let json = try JSONParser.parse(text)
    return (
        try #require(json["pem"]?.stringValue), try #require(json["fingerprint"]?.stringValue),
        try #require(json["message_hex"]?.stringValue.flatMap(hexBytes)), try #require(json["signature_hex"]?.stringValue.flatMap(hexBytes))
    )
}

private func hexBytes(_ text: String) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    return stride(from: 0, to: chars.count, by: 2).compactMap { UInt8(String(decoding: chars[$0..<$0 + 2], as: UTF8.self), radix: 16) }
}

@Suite("agent public keys (SPKI PEM, the SDK's fingerprint) against keys from Python cryptography")
struct AgentPublicKeyTests {
    @Test("the PEM parses, its fingerprint is the SDK's, and Python's signature verifies (a flipped byte does not)")
    func parsesAndVerifies() async throws {
        let fixture = try await pythonFixture()
        let key = try AgentPublicKey(pem: fixture.pem)
        #expect(key.fingerprint == fixture.fingerprint)
        #expect(key.pem == fixture.pem)
        #expect(key.isValidSignature(fixture.signature, for: fixture.message))
        var flipped = fixture.signature
        flipped[17] ^= 0x01
        #expect(!key.isValidSignature(flipped, for: fixture.message))
        #expect(!key.isValidSignature(fixture.signature, for: fixture.message + [0]))
    }

    @Test("a PEM pasted without its final LF or with indentation names the same key and fingerprint")
    func whitespaceDoesNotChangeTheFingerprint() async throws {
        let fixture = try await pythonFixture()
        let stripped = String(fixture.pem.dropLast())
        #expect(AgentPublicKey.fingerprint(ofPEMText: stripped) != fixture.fingerprint, "the SDK hashes the exact text")
        let indented = fixture.pem.split(separator: "\n").map { "    \($0)" }.joined(separator: "\r\n")
        for text in [stripped, indented] { #expect(try AgentPublicKey(pem: text).fingerprint == fixture.fingerprint) }
    }

    @Test("a key that is not Ed25519, a broken body and a private key are refused")
    func refusesOtherKeys() async throws {
        let fixture = try await pythonFixture()
        let lines = fixture.pem.split(separator: "\n").map(String.init)
        var der = try #require(Data(base64Encoded: lines[1]).map(Array.init))
        der[8] = 0x71  // OID 1.3.101.113: Ed448's arc, not Ed25519
        let wrongOID = [lines[0], Data(der).base64EncodedString(), lines[2]].joined(separator: "\n")
        let cases = [
            wrongOID, [lines[0], "not*base64", lines[2]].joined(separator: "\n"),
            fixture.pem.replacingOccurrences(of: "PUBLIC KEY", with: "PRIVATE KEY"), "",
        ]
        for text in cases { #expect(throws: AgentKeyError.self) { try AgentPublicKey(pem: text) } }
    }
}
