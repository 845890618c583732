public import Logging
public import Pipeline

/// One PostgreSQL database holding `governance_audit_events`, as the components of a pipeline
/// share it. The primary `postgres` exporter creates it from its settings and shares it
/// (`SharedResources.auditDatabase`); the durable bridge, the budget webhook, managed tokens and
/// the timeline UI open their connections through it, so none of them is handed a connection
/// string to reopen.
public final class AuditDatabase: Sendable {
    /// The libpq connection string or URL; only ever handed to libpq.
    private let dsn: String
    private let connectTimeoutSeconds: Int
    /// The workflow tokens the timeline UI issues, kept in this database. A service, run once
    /// per database as its `tokens` work (`AuditStoreWork`).
    public let tokens: PostgresTokenStore

    /// `clock` times the token store's refreshes (the collector's clock).
    public init(dsn: String, connectTimeoutSeconds: Int = 5, logger: Logger, clock: any Clock<Duration> = ContinuousClock()) {
        self.dsn = dsn
        self.connectTimeoutSeconds = connectTimeoutSeconds
        var tokensLogger = logger
        tokensLogger[metadataKey: "component"] = "tokens"
        tokens = PostgresTokenStore(dsn: dsn, logger: tokensLogger, clock: clock)
    }

    /// Two handles on one database (the same connection string) are one database: its tokens
    /// and readers run once.
    public func isSameDatabase(as other: AuditDatabase) -> Bool { dsn == other.dsn }

    /// Creates or upgrades every owner's tables; true when the recorded version changed.
    @discardableResult
    public func migrate(_ connection: PGConnection) throws(PGError) -> Bool {
        try AuditSchema.migrate(connection)
    }

    /// A new connection, named in `pg_stat_activity` by `applicationName`.
    public func connect(applicationName: String) throws(PGError) -> PGConnection {
        try PGConnection(dsn: dsn, connectTimeoutSeconds: connectTimeoutSeconds, applicationName: applicationName)
    }

    /// A connection behind a serial queue of its own, for readers off the hot path.
    public func worker(applicationName: String, setup: String? = nil) -> PGWorker {
        PGWorker(dsn: dsn, applicationName: applicationName, setup: setup)
    }

    /// A few workers taken in turn.
    public func workerPool(applicationName: String, size: Int, setup: String? = nil) -> PGWorkerPool {
        PGWorkerPool(dsn: dsn, applicationName: applicationName, size: size, setup: setup)
    }
}

extension SharedResources {
    /// The pipeline's audit database, shared by its primary exporter.
    public var auditDatabase: AuditDatabase? { self.get(AuditDatabase.self) }
}

extension ExtensionContext {
    /// The audit database `pipeline`'s primary shares, which this extension keeps its state in.
    public func auditDatabase(of pipeline: String) throws(MissingAuditDatabase) -> AuditDatabase {
        guard let database = resources[pipeline]?.auditDatabase else { throw MissingAuditDatabase(component: id) }
        return database
    }
}

/// A component that keeps its state in the audit database was built in a pipeline whose primary
/// shares none.
public struct MissingAuditDatabase: Error, CustomStringConvertible {
    public var component: String
    public init(component: String) { self.component = component }
    public var description: String {
        "`\(component)` keeps its state in the pipeline's PostgreSQL database, but the pipeline's primary exporter shares none; use the postgres exporter as the primary"
    }
}
