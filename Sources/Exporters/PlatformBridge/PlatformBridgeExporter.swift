#if PlatformBridge
    import AuditStore
    import Config
    import CurlHTTP
    import Foundation
    import Logging
    public import Pipeline
    import ServiceLifecycle

    /// `platform_bridge`: sends a copy of each committed event to the hosted platform's ingest API
    /// (or another collector's `ingest_http`), one POST per event, as the seed's SDK bridge does,
    /// and better: after the PostgreSQL commit and never in its way; one request in flight per
    /// target (the platform requires `seq == last + 1`) on a keep-alive, HTTP/2-capable libcurl
    /// connection; the last accepted seq kept in PostgreSQL; an SSRF guard on every connection;
    /// outgoing metadata redacted. In durable mode it follows the audit table from a cursor instead
    /// of a memory queue, so a crash loses nothing on this path either.
    public final class PlatformBridgeExporter: SecondaryExporter, StoreReadingExporter, QueuedExporter, Sendable {
        public let config: PlatformBridgeConfig
        public let counters: DeliveryCounters
        /// Decided once: `export` runs on every committed batch.
        let activation: PlatformBridgeConfig.Activation
        let logger: Logger
        let control: ExportQueue
        /// Where the last accepted seq (and in durable mode the cursor) is kept; nil without a
        /// PostgreSQL primary, then the seq lives in memory and the platform's 409 heals it.
        let database: AuditDatabase?
        /// Durable mode applies the pipeline's egress processors to the rows it reads back.
        let egress: Egress
        /// Before any receiver runs: a new durable target starts from events received after this.
        let createdAt = Date()

        public init(config: PlatformBridgeConfig, context: BuildContext) {
            self.config = config
            activation = config.activation
            logger = context.logger
            counters = DeliveryCounters(telemetry: context.telemetry, prefix: "governance_platform_bridge", exporter: context.id)
            control = ExportQueue(capacity: config.maxQueueSize, counters: counters, clock: context.clock)
            database = context.resources.auditDatabase
            egress = context.egress
        }

        /// Events waiting in the memory queue.
        public var queueSize: Int { control.count }

        var isActive: Bool {
            if case .active = activation { return true }
            return false
        }

        /// How the pipeline uses it: durable mode reads committed events back from the audit table.
        var role: ExporterRole { config.durable ? .storeReader(self) : .secondary(self) }

        /// Memory mode: queues the copies.
        public func export(_ events: [AuditEvent]) {
            guard isActive, counters[.disabled] == 0 else { return }
            control.enqueue(
                events, counters: counters, logger: logger, warning: "platform.bridge.queue_full",
                hint: "the platform is slower than ingest; raise max_queue_size or use durable: true")
        }

        /// Durable mode: new rows are in the table; the sender reads them now rather than at its next poll.
        public func committed() {
            guard isActive else { return }
            control.wake()
        }

        public func run() async throws {
            switch activation {
            case .off:
                try? await gracefulShutdown()
                return
            case .offWithCredentials(let reason):
                logger.info(
                    "platform.bridge_disabled",
                    metadata: [
                        "reason": "\(reason)",
                        "fix":
                            "set platform_bridge_enabled: true (GOVERNANCE_PLATFORM_BRIDGE_ENABLED=true) together with the URL and token to activate it",
                    ])
                try? await gracefulShutdown()
                return
            case .active:
                break
            }
            logger.warning(
                "platform.bridge_enabled",
                metadata: [
                    "url": "\(config.displayURL)",
                    "token": "\(ConfigSection.fingerprint(config.ingestToken ?? ""))",
                    "mode": "\(config.durable ? "durable" : "memory")",
                    "data_residency":
                        "a copy of every audit event (event_type, agent_id, session_id, metadata up to 64 KiB) leaves this host for the URL above; leave the bridge off where audit metadata must stay on-premise",
                ])
            await control.run(BridgeSender(exporter: self), shutdownTimeout: config.shutdownTimeout)
        }
    }
#endif
