import Config
public import Pipeline
import ServiceLifecycle

/// The exporter factories this build provides.
public enum BuiltInExporters {
    public static let postgres = ExporterFactory(type: "postgres", isPrimary: true) { section throws(ConfigError) in
        let config = try PostgresExporterConfig.read(section)
        return { context in
            .primary(
                PostgresExporter(
                    config: config, logger: context.logger, telemetry: context.telemetry, id: context.id,
                    clock: context.clock))
        }
    }

    public static let debug = ExporterFactory(type: "debug") { section throws(ConfigError) in
        let useStandardError = try DebugExporter.read(section)
        return { _ in .secondary(DebugExporter(useStandardError: useStandardError)) }
    }

    /// Without the `PlatformBridge` trait (no libcurl) the type still parses, so a configuration
    /// that asks for the bridge fails at start-up with the fix instead of silently doing nothing.
    public static let platformBridge = ExporterFactory(type: "platform_bridge") { section throws(ConfigError) in
        let config = try PlatformBridgeConfig.read(section)
        #if PlatformBridge
            return { context in PlatformBridgeExporter(config: config, context: context).role }
        #else
            guard config.activation == .off else {
                throw section.error(
                    "platform_bridge_enabled",
                    "asks for the platform bridge, but this build has none (built without the PlatformBridge trait, which needs libcurl)",
                    fix:
                        "rebuild with the default traits (`swift build -c release`, or add `--traits PlatformBridge`), or remove the platform_* settings"
                )
            }
            return { _ in .secondary(InactiveExporter()) }
        #endif
    }

    /// OTLP/HTTP needs libcurl too, so it shares the `PlatformBridge` trait. `otlphttp` is the
    /// OpenTelemetry Collector's name for it.
    public static let otlpHTTP = otlpHTTPFactory(type: "otlp_http")
    public static let otlphttp = otlpHTTPFactory(type: "otlphttp")

    static func otlpHTTPFactory(type: String) -> ExporterFactory {
        ExporterFactory(type: type) { section throws(ConfigError) in
            let config = try OTLPExporterConfig.read(section, transport: .http)
            #if PlatformBridge
                return { context in .secondary(OTLPExporter(config: config, context: context)) }
            #else
                guard config.endpoint == nil else {
                    throw section.error(
                        "endpoint",
                        "asks for the OTLP/HTTP exporter, but this build has none (built without the PlatformBridge trait, which needs libcurl)",
                        fix:
                            "rebuild with the default traits (`swift build -c release`, or add `--traits PlatformBridge`), use otlp_grpc, or remove the endpoint"
                    )
                }
                return { _ in .secondary(InactiveExporter()) }
            #endif
        }
    }

    /// OTLP/gRPC (grpc-swift 2). `otlp` is the OpenTelemetry Collector's name for it.
    public static let otlpGRPC = otlpGRPCFactory(type: "otlp_grpc")
    public static let otlp = otlpGRPCFactory(type: "otlp")

    static func otlpGRPCFactory(type: String) -> ExporterFactory {
        ExporterFactory(type: type) { section throws(ConfigError) in
            let config = try OTLPExporterConfig.read(section, transport: .grpc)
            return { context in .secondary(OTLPExporter(config: config, context: context)) }
        }
    }

    /// Needs libcurl too, so it shares the `PlatformBridge` trait.
    public static let budgetWebhook = ExporterFactory(type: "budget_webhook") { section throws(ConfigError) in
        #if PlatformBridge
            let config = try BudgetWebhookConfig.read(section)
            return { context in .storeReader(try BudgetWebhookExporter(config: config, context: context)) }
        #else
            throw section.error(
                "alert_webhook_url",
                "asks for budget webhooks, but this build has none (built without the PlatformBridge trait, which needs libcurl)",
                fix: "rebuild with the default traits (`swift build -c release`), or remove the budget_webhook exporter")
        #endif
    }

    /// Needs libcurl too, so it shares the `PlatformBridge` trait.
    public static let checkpointWitness = ExporterFactory(type: "checkpoint_witness") { section throws(ConfigError) in
        #if PlatformBridge
            let config = try CheckpointWitnessConfig.read(section)
            return { context in .storeReader(try CheckpointWitnessExporter(config: config, context: context)) }
        #else
            throw section.error(
                "url", "asks for a checkpoint witness, but this build has none (built without the PlatformBridge trait, which needs libcurl)",
                fix: "rebuild with the default traits (`swift build -c release`), or remove the checkpoint_witness exporter")
        #endif
    }

    public static let all = [postgres, debug, platformBridge, otlpHTTP, otlphttp, otlpGRPC, otlp, budgetWebhook, checkpointWitness]
}

/// A secondary that drops everything: a configured-off component in a build without it.
struct InactiveExporter: SecondaryExporter {
    func export(_ events: [AuditEvent]) {}
    func run() async throws { try? await gracefulShutdown() }
}
