import Config
package import Pipeline

/// The receiver factories this build provides. The OTLP ones need their database's `traces`
/// work: where spans wait for their trace, and the assembler that makes them audit rows.
package enum BuiltInReceivers {
    package static let ingestHTTP = ReceiverFactory(type: "ingest_http", needs: ["gates"]) { section throws(ConfigError) in
        let config = try IngestHTTPConfig.read(section)
        return { context in try IngestHTTPReceiver(config: config, context: context) }
    }

    package static let otlpHTTP = ReceiverFactory(type: "otlp_http", needs: ["traces"]) { section throws(ConfigError) in
        let config = try OTLPHTTPConfig.read(section)
        return { context in try OTLPHTTPReceiver(config: config, context: context) }
    }

    /// The OpenTelemetry Collector's `otlp` receiver: `protocols.grpc` and `protocols.http`.
    package static let otlp = ReceiverFactory(type: "otlp", needs: ["traces"]) { section throws(ConfigError) in
        let config = try OTLPConfig.read(section)
        return { context in try OTLPReceiver(config: config, context: context) }
    }

    package static let all = [ingestHTTP, otlpHTTP, otlp]
}
