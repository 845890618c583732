import Config
import Pipeline

/// The exporter factories this build provides.
public enum BuiltInExporters {
    public static let postgres = ExporterFactory(type: "postgres", isPrimary: true) { section throws(ConfigError) in
        let config = try PostgresExporterConfig.read(section)
        return { context in .primary(PostgresExporter(config: config, logger: context.logger)) }
    }

    public static let debug = ExporterFactory(type: "debug") { section throws(ConfigError) in
        let useStandardError = try DebugExporter.read(section)
        return { _ in .secondary(DebugExporter(useStandardError: useStandardError)) }
    }

    public static let all = [postgres, debug]
}
