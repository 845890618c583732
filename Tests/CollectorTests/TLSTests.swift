import CurlHTTP
import Foundation
import LocalPostgres
import Testing

/// A test certificate authority and a server certificate for 127.0.0.1, made with openssl.
struct TestCA {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var certFile: String { directory + "/server.pem" }
    var keyFile: String { directory + "/server.key" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-ca-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                          "-subj", "/CN=governance-collector test CA", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem"])
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                          "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(d)/ext.cnf", atomically: true, encoding: .utf8)
        try Self.openssl(["x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
                          "-CAcreateserial", "-days", "2", "-extfile", "\(d)/ext.cnf", "-out", "\(d)/server.pem"])
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private static func openssl(_ arguments: [String]) throws {
        try ChildProcess.run(["openssl"] + arguments)
    }
}

@Suite("ingest_http over TLS")
struct TLSTests {
    @Test("serves HTTPS with the configured certificate; clients verify it against the test CA")
    func https() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let dsn = try sharedCluster.createDatabase()
        let yaml = collectorYAML(dsn: dsn, receiverSettings: """
                tls:
                  cert_file: \(ca.certFile)
                  key_file: \(ca.keyFile)
            """)
        let collector = try await RunningCollector.start(yaml: yaml, scheme: "https")
        defer { Task { try await collector.stop() } }

        let body = Array(wireEvent().utf8)
        let headers = ["Authorization: Bearer \(testToken)", "Content-Type: application/json"]
        var accepted = 0
        for _ in 0..<100 where accepted == 0 {
            let r = try await CurlHTTP.request("POST", collector.eventsURL, headers: headers, body: body, caFile: ca.caFile)
            if r.status == 201 { accepted += 1 } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(accepted == 1)

        // Without the test CA the certificate is not trusted: TLS verification is real.
        await #expect(throws: CurlError.self) {
            _ = try await CurlHTTP.request("POST", collector.eventsURL, headers: headers, body: body)
        }
        // Plain HTTP to the TLS port gets nothing useful.
        let plain = try? await CurlHTTP.request("POST", collector.eventsURL.replacingOccurrences(of: "https", with: "http"), headers: headers, body: body)
        #expect(plain?.status != 201)
    }
}
