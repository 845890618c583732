public import Config
import Foundation
public import OTLP

/// Settings of the `otlp_http` and `otlp_grpc` exporters. Each key also reads the OpenTelemetry
/// SDK's standard environment variable for the signal (`OTEL_EXPORTER_OTLP_LOGS_*` or
/// `OTEL_EXPORTER_OTLP_TRACES_*`), so an existing OTel setup configures it unchanged.
public struct OTLPExporterConfig: Sendable {
    public enum Transport: String, Sendable { case http, grpc }

    /// Set by the component type: `otlp_http`/`otlphttp` or `otlp_grpc`/`otlp`.
    public var transport = Transport.http
    /// `signal`: `logs` (default; audit events as log records) or `traces` (as spans, in the
    /// shape of the reference SDK's OTelExporter).
    public var signal = OTLPSignal.logs
    /// `endpoint` / `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`. HTTP: the full URL, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/logs` or `/v1/traces`. gRPC: `http://host:port`
    /// (plaintext) or `https://host:port` (TLS), else `OTEL_EXPORTER_OTLP_ENDPOINT`. Unset: off.
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
    /// `allow_loopback` (default false): permit an endpoint on this host (a local collector
    /// sidecar, tests). Private networks are allowed, loopback only on request.
    public var allowLoopback = false

    public init() {}

    public static func read(_ section: ConfigSection, transport: Transport) throws(ConfigError) -> OTLPExporterConfig {
        var c = OTLPExporterConfig()
        c.transport = transport
        switch try section.string("signal", default: "logs")! {
        case "logs": c.signal = .logs
        case "traces": c.signal = .traces
        case let other: throw section.error("signal", "is `\(other)`", fix: "use logs or traces")
        }
        let env = c.signal == .logs ? "OTEL_EXPORTER_OTLP_LOGS" : "OTEL_EXPORTER_OTLP_TRACES"
        c.endpoint = try section.string("endpoint", env: "\(env)_ENDPOINT")
        if c.endpoint == nil, let base = section.environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            let path = transport == .grpc ? "" : (c.signal == .logs ? "/v1/logs" : "/v1/traces")
            c.endpoint = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
            section.record("endpoint", c.endpoint!, .environment, "OTEL_EXPORTER_OTLP_ENDPOINT" + (path.isEmpty ? "" : " + \(path)"))
        }
        if let endpoint = c.endpoint, transport == .grpc {
            if case .failure(let error) = grpcTarget(endpoint) {
                throw section.error(
                    "endpoint", "is `\(endpoint)`: \(error.problem)", fix: "write http://host:4317 (plaintext) or https://host:4317 (TLS)")
            }
        }
        if let endpoint = c.endpoint, transport == .http {
            guard case .success = DestinationPolicy.parseURL(endpoint) else {
                throw section.error(
                    "endpoint", "is `\(endpoint)`, not an http(s) URL without userinfo", fix: "write e.g. http://otel-collector:4318/v1/logs")
            }
        }
        switch try section.string("encoding", env: "\(env)_PROTOCOL", default: transport == .grpc ? "grpc" : "protobuf")! {
        case "protobuf" where transport == .http, "http/protobuf" where transport == .http: c.encoding = .protobuf
        case "json" where transport == .http, "http/json" where transport == .http: c.encoding = .json
        case "grpc" where transport == .grpc: c.encoding = .protobuf
        case let other:
            throw section.error(
                "encoding", "is `\(other)`",
                fix: transport == .grpc
                    ? "leave it out: gRPC always sends protobuf (or use the otlp_http exporter for JSON)"
                    : "use protobuf or json (http/protobuf or http/json)")
        }
        switch try section.string("compression", env: "\(env)_COMPRESSION", default: "gzip")! {
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
        } else if let text = try section.text("headers", env: "\(env)_HEADERS") {
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
        c.caFile = try section.string("ca_file", env: "\(env)_CERTIFICATE")
        c.timeout = try section.double("timeout", default: c.timeout, range: 0.05...300)
        c.maxQueueSize = try section.int("max_queue_size", default: c.maxQueueSize, range: 1...10_000_000)
        c.maxBatchSize = try section.int("max_batch_size", default: c.maxBatchSize, range: 1...100_000)
        c.batchTimeout = try section.double("batch_timeout", default: c.batchTimeout, range: 0...60)
        c.retryBudget = try section.double("retry_budget", default: c.retryBudget, range: 0...86_400)
        c.maxBackoff = try section.double("max_backoff", default: c.maxBackoff, range: 0.01...3_600)
        c.shutdownTimeout = try section.double("shutdown_timeout", default: c.shutdownTimeout, range: 0...3_600)
        c.redact = try section.bool("redact", default: c.redact)
        c.allowLoopback = try section.bool("allow_loopback", default: false)
        try section.finish()
        if let endpoint = c.endpoint, let host = Self.host(of: endpoint, transport: transport),
            let refusal = DestinationPolicy.refusesLoopback(host: host, allowLoopback: c.allowLoopback)
        {
            throw section.error("endpoint", "is refused: \(refusal.reason)", fix: "for a collector on this host set allow_loopback: true")
        }
        if let caFile = c.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw section.error("ca_file", "names `\(caFile)`, which cannot be read", fix: "give the path of a PEM CA bundle")
        }
        return c
    }

    static func host(of endpoint: String, transport: Transport) -> String? {
        switch transport {
        case .grpc: (try? grpcTarget(endpoint).get())?.host
        case .http: (try? DestinationPolicy.parseURL(endpoint).get()).map { DestinationPolicy.canonicalText($0.host) }
        }
    }

    /// A gRPC endpoint: `http://host:port` (plaintext) or `https://host:port` (TLS), no path.
    static func grpcTarget(_ endpoint: String) -> Result<(host: String, port: Int, tls: Bool), GRPCEndpointError> {
        guard let url = URLComponents(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme) else {
            return .failure(GRPCEndpointError(problem: "a gRPC endpoint needs http:// or https://"))
        }
        guard let host = url.host, !host.isEmpty, let port = url.port, port > 0, url.path.isEmpty || url.path == "/",
            url.user == nil, url.password == nil, url.query == nil
        else {
            return .failure(GRPCEndpointError(problem: "a gRPC endpoint is scheme://host:port, without a path, query or userinfo"))
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return .success((bare, port, scheme == "https"))
    }
}

public struct GRPCEndpointError: Error, CustomStringConvertible {
    public var problem: String
    public var description: String { problem }
}
