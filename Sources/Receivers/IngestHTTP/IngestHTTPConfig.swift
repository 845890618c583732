package import Config
import Foundation

/// Settings of the `ingest_http` receiver (the hosted platform's ingest API).
package struct IngestHTTPConfig: Sendable {
    /// `endpoint` (default `127.0.0.1:4320`, loopback: exposing it is a decision), `tokens`, `tls`.
    package var listener = HTTPListener(port: 4320)
    /// Largest single-event body, bytes. Default 1 MiB (the seed's metadata cap is 64 KiB).
    package var maxBodyBytes = 1024 * 1024
    /// Largest batch body, bytes. Default 16 MiB.
    package var maxBatchBodyBytes = 16 * 1024 * 1024
    /// Most events in one batch request. Default 10,000.
    package var maxBatchEvents = 10_000

    package init() {}

    package static func read(_ section: ConfigSection) throws(ConfigError) -> IngestHTTPConfig {
        var c = IngestHTTPConfig()
        c.listener = try HTTPListener.read(section, endpointEnv: "GOVERNANCE_INGEST_ENDPOINT", defaultPort: 4320)
        c.maxBodyBytes = try section.int("max_body_bytes", default: c.maxBodyBytes, range: 1024...(64 << 20))
        c.maxBatchBodyBytes = try section.int("max_batch_body_bytes", default: c.maxBatchBodyBytes, range: 1024...(1 << 30))
        c.maxBatchEvents = try section.int("max_batch_events", default: c.maxBatchEvents, range: 1...1_000_000)
        try section.finish()
        return c
    }
}
