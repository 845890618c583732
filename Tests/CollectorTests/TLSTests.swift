import CurlHTTP
import Foundation
import GovernanceTesting
import Testing

@Suite("ingest_http over TLS")
struct TLSTests {
    @Test("serves HTTPS with the configured certificate; clients verify it against the test CA")
    func https() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let dsn = try await newDatabase()
        let yaml = collectorYAML(
            dsn: dsn,
            receiverSettings: """
                    tls:
                      cert_file: \(ca.certFile)
                      key_file: \(ca.keyFile)
                """)
        let collector = try await RunningCollector.start(yaml: yaml, scheme: "https")

        let body = Array(wireEvent().utf8)
        let headers = ["Authorization: Bearer \(testToken)", "Content-Type: application/json"]
        var accepted = 0
        for _ in 0..<100 where accepted == 0 {
            let r = try await TestHTTP.request("POST", collector.eventsURL, headers: headers, body: body, caFile: ca.caFile)
            if r.status == 201 { accepted += 1 } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(accepted == 1)

        // Without the test CA the certificate is not trusted: TLS verification is real.
        await #expect(throws: CurlError.self) {
            _ = try await TestHTTP.request("POST", collector.eventsURL, headers: headers, body: body)
        }
        // Plain HTTP to the TLS port gets no HTTP answer: the TLS listener closes the connection.
        await #expect(throws: CurlError.self) {
            _ = try await TestHTTP.request("POST", collector.eventsURL.replacingOccurrences(of: "https", with: "http"), headers: headers, body: body)
        }
        try await collector.stop()
    }
}
