import Config
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
package import Listeners
import Logging
import NIOSSL
import ServiceLifecycle
import Synchronization

/// What every HTTP receiver shares: where it listens, whose bearer tokens it accepts (each
/// naming a workflow), and optional TLS.
package struct HTTPListener: Sendable {
    package var host = "127.0.0.1"
    package var port: Int
    package var tokens = WorkflowTokens([])
    /// PEM certificate chain and key; both set turns on TLS.
    package var tlsCertFile: String?
    package var tlsKeyFile: String?
    /// Timeouts and the connection cap (`read_header_timeout`, … `max_connections`); HTTP only,
    /// the gRPC listener has its own (`OTLPGRPCConfig`).
    package var limits = ListenerLimits()

    /// Reads `endpoint` (with `endpointEnv`), `tokens`, `tls` and, for HTTP, the limits from a receiver's section.
    static func read(_ section: ConfigSection, endpointEnv: String, defaultPort: Int, http: Bool = true) throws(ConfigError) -> HTTPListener {
        var l = HTTPListener(port: defaultPort)
        let endpoint = try section.string("endpoint", env: endpointEnv, default: "\(l.host):\(l.port)")!
        guard let (host, port) = ListenerEndpoint.parse(endpoint) else {
            throw section.error(
                "endpoint", "is `\(endpoint)`",
                fix: "write host:port, e.g. 127.0.0.1:\(defaultPort) or [::1]:\(defaultPort) (port 0 picks a free one)")
        }
        (l.host, l.port) = (host, port)
        l.tokens = try WorkflowTokens.read(section, key: "tokens")
        if http { l.limits = try ListenerLimits.read(section) }
        let tls = try section.section("tls")
        l.tlsCertFile = try tls.string("cert_file")
        l.tlsKeyFile = try tls.string("key_file")
        try tls.finish()
        switch (l.tlsCertFile, l.tlsKeyFile) {
        case (nil, nil): break
        case (let cert?, let key?):
            for (name, path) in [("cert_file", cert), ("key_file", key)] where !FileManager.default.isReadableFile(atPath: path) {
                throw tls.error(name, "names `\(path)`, which cannot be read", fix: "point it at a readable PEM file")
            }
            do {
                _ = try l.makeTLSConfiguration()
            } catch {
                throw tls.error(
                    "cert_file", "and key_file could not be loaded: \(error)", fix: "use a PEM certificate chain and its matching PEM private key")
            }
        case (nil, _): throw tls.error("cert_file", "is missing while key_file is set", fix: "set both cert_file and key_file, or neither")
        case (_, nil): throw tls.error("key_file", "is missing while cert_file is set", fix: "set both cert_file and key_file, or neither")
        }
        return l
    }

    /// The HTTP server for `router` on this listener (TLS when configured, limits applied). Once
    /// listening it records the bound port and logs `<name>.listening`.
    func application(router: Router<BasicRequestContext>, name: String, metrics: ListenerMetrics, boundPort: BoundPort, logger: Logger) throws
        -> any Service
    {
        let http1 = LimitedHTTPServer.http1(limits: limits, metrics: metrics)
        let server: HTTPServerBuilder = try makeTLSConfiguration().map { try .tls(http1, tlsConfiguration: $0) } ?? http1
        let tls = tlsCertFile != nil
        return Application(
            router: router, server: server,
            configuration: LimitedHTTPServer.configuration(host: host, port: port, limits: limits, metrics: metrics),
            onServerRunning: { channel in
                boundPort.value.withLock { $0 = channel.localAddress?.port }
                logger.info("\(name).listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(tls)"])
            },
            logger: logger)
    }

    func makeTLSConfiguration() throws -> TLSConfiguration? {
        guard let certFile = tlsCertFile, let keyFile = tlsKeyFile else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(certFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
    }
}
