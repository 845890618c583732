import Config
import Foundation
import OTLP

/// Settings of the `otlp_http` exporter. Each key also reads the OpenTelemetry SDK's standard
/// environment variable, so an existing OTel setup configures it unchanged.
public struct OTLPExporterConfig: Sendable {
    /// `endpoint` / `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (the full URL), else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/logs`. Unset: the exporter stays off.
    public var endpoint: String?
    /// `encoding` / `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`: protobuf (`http/protobuf`, default) or json (`http/json`).
    public var encoding = OTLPEncoding.protobuf
    /// `compression` / `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION`: gzip (default) or none.
    public var gzip = true
    /// `headers` (a mapping) / `OTEL_EXPORTER_OTLP_LOGS_HEADERS` (`k=v,k2=v2`), e.g. an API key.
    /// Values are secrets: `print-config` shows fingerprints.
    public var headers: [(String, String)] = []
    /// `ca_file` / `OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE`: PEM bundle; verification is always on.
    public var caFile: String?
    /// `timeout` (seconds, default 10) per request.
    public var timeout = 10.0
    /// `max_queue_size` (default 2048): events waiting; when full the oldest is dropped.
    public var maxQueueSize = 2048
    /// `max_batch_size` (default 512) records per request, `batch_timeout` (default 1 s) to fill one.
    public var maxBatchSize = 512
    public var batchTimeout = 1.0
    /// `retry_budget` (seconds, default 15): 429/502/503/504 and connection errors are retried
    /// (honouring `Retry-After`) until then; other answers drop the batch.
    public var retryBudget = 15.0
    public var maxBackoff = 8.0
    /// `shutdown_timeout` (seconds, default 5): how long shutdown keeps sending what is queued.
    public var shutdownTimeout = 5.0
    /// `redact` (default true): secrets in metadata and model replaced before they leave.
    public var redact = true

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> OTLPExporterConfig {
        var c = OTLPExporterConfig()
        c.endpoint = try section.string("endpoint", env: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        if c.endpoint == nil, let base = section.environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            c.endpoint = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/v1/logs"
            section.record("endpoint", c.endpoint!, .environment, "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/logs")
        }
        if let endpoint = c.endpoint {
            guard case .success = EgressPolicy.parseURL(endpoint) else {
                throw section.error("endpoint", "is `\(endpoint)`, not an http(s) URL without userinfo", fix: "write e.g. http://otel-collector:4318/v1/logs")
            }
        }
        switch try section.string("encoding", env: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", default: "protobuf")! {
        case "protobuf", "http/protobuf": c.encoding = .protobuf
        case "json", "http/json": c.encoding = .json
        case let other: throw section.error("encoding", "is `\(other)`", fix: "use protobuf or json (http/protobuf or http/json)")
        }
        switch try section.string("compression", env: "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", default: "gzip")! {
        case "gzip": c.gzip = true
        case "none": c.gzip = false
        case let other: throw section.error("compression", "is `\(other)`", fix: "use gzip or none")
        }
        if case .map(let pairs, _)? = section.raw("headers") {
            let headers = try section.section("headers")
            for (name, _) in pairs {
                guard let value = try headers.string(name, secret: true) else { continue }
                c.headers.append((name, value))
            }
            try headers.finish()
        } else if let text = try section.text("headers", env: "OTEL_EXPORTER_OTLP_LOGS_HEADERS") {
            for pair in text.value.split(separator: ",") {
                guard let eq = pair.firstIndex(of: "=") else {
                    throw section.error("headers", "contains `\(pair.prefix(20))…` without `=`", fix: "write key=value pairs separated by commas")
                }
                let name = pair[..<eq].trimmingCharacters(in: .whitespaces)
                let value = String(pair[pair.index(after: eq)...]).trimmingCharacters(in: .whitespaces).removingPercentEncoding ?? ""
                c.headers.append((name, value))
            }
            section.record("headers", c.headers.map { "\($0.0)=\(ConfigSection.fingerprint($0.1))" }.joined(separator: ","), text.source, text.detail)
        }
        for (name, _) in c.headers where name.isEmpty || name.contains(where: { $0 == ":" || $0 == "\r" || $0 == "\n" || $0 == " " }) {
            throw section.error("headers", "has an invalid header name `\(name)`", fix: "use plain header names such as api-key")
        }
        c.caFile = try section.string("ca_file", env: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE")
        c.timeout = try section.double("timeout", default: c.timeout, range: 0.05...300)
        c.maxQueueSize = try section.int("max_queue_size", default: c.maxQueueSize, range: 1...10_000_000)
        c.maxBatchSize = try section.int("max_batch_size", default: c.maxBatchSize, range: 1...100_000)
        c.batchTimeout = try section.double("batch_timeout", default: c.batchTimeout, range: 0...60)
        c.retryBudget = try section.double("retry_budget", default: c.retryBudget, range: 0...86_400)
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...3_600)
        c.shutdownTimeout = try section.double("shutdown_timeout", default: c.shutdownTimeout, range: 0...3_600)
        c.redact = try section.bool("redact", default: c.redact)
        try section.finish()
        if let caFile = c.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw section.error("ca_file", "names `\(caFile)`, which cannot be read", fix: "give the path of a PEM CA bundle")
        }
        return c
    }
}
