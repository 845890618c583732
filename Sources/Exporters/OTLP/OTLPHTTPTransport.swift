#if PlatformBridge
    import CurlHTTP
    import Foundation
    import OTLP

    /// OTLP/HTTP through libcurl: one keep-alive handle, TLS verification always on, proxies
    /// ignored, redirects never followed. Only 429, 502, 503 and 504 and connection errors are
    /// retryable (OTLP/HTTP "Failures"), after `Retry-After` when given.
    final class OTLPHTTPTransport: OTLPTransport, @unchecked Sendable {
        // @unchecked: the libcurl handle inside `poster` is used only on the exporter's one
        // sender (`OTLPSender`, an actor on its own thread); Sendable only to be handed to it.
        private let poster: GuardedPoster
        private let secrets: [String]

        init(config: OTLPExporterConfig, endpoint: String, abort: @escaping @Sendable () -> Bool) {
            var headers = ["Content-Type: \(config.encoding.contentType)", "User-Agent: governance-collector"]
            if config.gzip { headers.append("Content-Encoding: gzip") }
            headers += config.headers.map { "\($0.0): \($0.1)" }
            var options = GuardedPoster.Options(
                url: endpoint, headers: headers, caFile: config.caFile,
                allowAddress: { [allowLoopback = config.allowLoopback] address in
                    // A name that resolves to loopback is refused like a loopback literal.
                    allowLoopback || !DestinationPolicy.isLoopbackAddress(address)
                })
            options.timeoutMilliseconds = Int(config.timeout * 1000)
            options.shouldAbort = abort
            poster = GuardedPoster(options)
            secrets = config.headers.map(\.1)
        }

        /// Blocks the caller's thread (the sender's own) on libcurl.
        nonisolated(nonsending) func deliver(_ body: [UInt8], timeLeftMilliseconds: Int?) async -> OTLPDelivery {
            switch poster.post(body, timeoutMilliseconds: timeLeftMilliseconds) {
            case .success(let response) where (200..<300).contains(response.status):
                return .sent
            case .success(let response) where [429, 502, 503, 504].contains(response.status):
                return .retryable(
                    after: response.headers["retry-after"].flatMap { BridgeVerdict.retryAfterSeconds($0, now: Date()) },
                    reason: "HTTP \(response.status)")
            case .success(let response):
                return .rejected(status: "\(response.status)", detail: BridgeVerdict.preview(response.body, scrubbing: secrets))
            case .failure(let error):
                return .retryable(after: nil, reason: "\(error)")
            }
        }

        func close() {}
    }
#endif
