import Config
import Foundation
import NIOSSL

/// Settings of the `ingest_http` receiver (the hosted platform's ingest API).
public struct IngestHTTPConfig: Sendable {
    /// `host:port` to listen on. Default `127.0.0.1:4320` (loopback: exposing it is a decision).
    public var host = "127.0.0.1"
    public var port = 4320
    /// Largest single-event body, bytes. Default 1 MiB (the seed's metadata cap is 64 KiB).
    public var maxBodyBytes = 1024 * 1024
    /// Largest batch body, bytes. Default 16 MiB.
    public var maxBatchBodyBytes = 16 * 1024 * 1024
    /// Most events in one batch request. Default 10,000.
    public var maxBatchEvents = 10_000
    public var tokens = WorkflowTokens([])
    /// PEM certificate chain and key; both set turns on TLS.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> IngestHTTPConfig {
        var c = IngestHTTPConfig()
        let endpoint = try section.string("endpoint", env: "GOVERNANCE_INGEST_ENDPOINT", default: "\(c.host):\(c.port)")!
        guard let (host, port) = parseEndpoint(endpoint) else {
            throw section.error("endpoint", "is `\(endpoint)`", fix: "write host:port, e.g. 127.0.0.1:4320 or [::1]:4320 (port 0 picks a free one)")
        }
        (c.host, c.port) = (host, port)
        c.maxBodyBytes = try section.int("max_body_bytes", default: c.maxBodyBytes, range: 1024...(64 << 20))
        c.maxBatchBodyBytes = try section.int("max_batch_body_bytes", default: c.maxBatchBodyBytes, range: 1024...(1 << 30))
        c.maxBatchEvents = try section.int("max_batch_events", default: c.maxBatchEvents, range: 1...1_000_000)
        c.tokens = try WorkflowTokens.read(section, key: "tokens")
        let tls = try section.section("tls")
        c.tlsCertFile = try tls.string("cert_file")
        c.tlsKeyFile = try tls.string("key_file")
        try tls.finish()
        switch (c.tlsCertFile, c.tlsKeyFile) {
        case (nil, nil): break
        case (let cert?, let key?):
            for (name, path) in [("cert_file", cert), ("key_file", key)] where !FileManager.default.isReadableFile(atPath: path) {
                throw tls.error(name, "names `\(path)`, which cannot be read", fix: "point it at a readable PEM file")
            }
            do {
                _ = try c.makeTLSConfiguration()
            } catch {
                throw tls.error("cert_file", "and key_file could not be loaded: \(error)", fix: "use a PEM certificate chain and its matching PEM private key")
            }
        case (nil, _): throw tls.error("cert_file", "is missing while key_file is set", fix: "set both cert_file and key_file, or neither")
        case (_, nil): throw tls.error("key_file", "is missing while cert_file is set", fix: "set both cert_file and key_file, or neither")
        }
        try section.finish()
        return c
    }

    func makeTLSConfiguration() throws -> TLSConfiguration? {
        guard let certFile = tlsCertFile, let keyFile = tlsKeyFile else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(certFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
    }

    /// `host:port`, `[v6]:port`.
    public static func parseEndpoint(_ text: String) -> (String, Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, text.hasPrefix("[") || !host.contains(":"), let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
