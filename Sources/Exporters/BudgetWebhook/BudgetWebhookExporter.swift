#if PlatformBridge
    public import AuditStore
    import Config
    import CoreMetrics
    import Crypto
    import CurlHTTP
    import Foundation
    import Logging
    public import Pipeline
    import ServiceLifecycle

    /// `budget_webhook`: delivers the budget processor's alerts (`governance_budget_alerts`, an
    /// outbox written in the same transaction as the events that crossed a threshold) as the SDK's
    /// signed webhook: `POST` of the `governance.cost.budget_alert/v1` payload with
    /// `X-Governance-Signature: sha256=<HMAC-SHA256 of the canonical JSON>`. Each alert is claimed
    /// with `FOR UPDATE SKIP LOCKED`, so several collectors deliver it once between them; a failed
    /// attempt is retried with backoff (up to `max_backoff`) until it succeeds, across restarts. A
    /// crash between a 2xx and its commit can repeat a delivery: receivers dedup on `nonce`.
    public final class BudgetWebhookExporter: StoreReadingExporter, Sendable {
        public let config: BudgetWebhookConfig
        let logger: Logger
        /// Where the alert outbox is: the pipeline's primary database.
        let database: AuditDatabase
        let control: ExportQueue
        let deliveries: CounterFamily
        let pending: Gauge

        /// Throws when the pipeline's primary shares no audit database (only an embedder's own primary could).
        public init(config: BudgetWebhookConfig, context: BuildContext) throws(MissingAuditDatabase) {
            guard let database = context.resources.auditDatabase else { throw MissingAuditDatabase(component: context.id) }
            self.config = config
            self.database = database
            control = ExportQueue(capacity: 1, clock: context.clock)
            logger = context.logger
            deliveries = context.telemetry.counterFamily("governance_budget_webhook_deliveries_total", [("exporter", context.id)], varying: "result")
            pending = context.telemetry.gauge("governance_budget_webhook_pending", [("exporter", context.id)])
        }

        /// The outbox is polled every `poll_interval`: waking on each commit would cost a query per
        /// commit for alerts that are rare.
        public func committed() {}

        public func run() async throws {
            logger.info(
                "budget.webhook_started", metadata: ["url": "\(config.endpoint.url)", "secret": "\(ConfigSection.fingerprint(config.secret))"])
            // Deliveries in flight when shutdown begins get one `timeout` to finish; the rest wait in the table.
            await control.run(WebhookSender(exporter: self), shutdownTimeout: config.endpoint.timeout)
        }
    }

    /// The exporter's sender: one PostgreSQL connection, one libcurl handle, on a thread of its own.
    actor WebhookSender: OutboxSender {
        nonisolated let executor = BlockingExecutor(name: "budget_webhook")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        let exporter: BudgetWebhookExporter
        let poster: GuardedPoster
        var connection: PGConnection?
        var control: ExportQueue { exporter.control }
        var config: BudgetWebhookConfig { exporter.config }
        var logger: Logger { exporter.logger }

        init(exporter: BudgetWebhookExporter) {
            self.exporter = exporter
            poster = exporter.config.endpoint.poster(
                headers: [
                    "Content-Type: application/json", "User-Agent: governance-collector-webhook",
                    "X-Governance-Event: \(BudgetAlertPayload.event)",
                ],
                shouldAbort: { [control = exporter.control] in control.isPastDeadline })
        }

        func run() async {
            await poll(every: config.pollInterval, logger: logger, unavailable: "budget.webhook_database_unavailable")
        }

        func connect() throws(PGError) -> PGConnection {
            try exporter.database.connect(applicationName: "governance-collector budget_webhook")
        }

        func deliverNext(_ connection: PGConnection) throws(PGError) -> Bool {
            return try connection.transaction { () throws(PGError) in
                guard let alert = try BudgetLedger.claimDueAlert(on: connection) else {
                    exporter.pending.record(try BudgetLedger.undeliveredCount(on: connection))
                    return false
                }
                let attempt = alert.attempts + 1
                if let reason = post(alert.payload) {
                    let delay = min(config.maxBackoff, pow(2, Double(min(attempt, 20))))
                    try BudgetLedger.deliveryFailed(alert, attempt: attempt, reason: reason, retryIn: delay, on: connection)
                    exporter.deliveries.increment("failed")
                    logger.warning(
                        "budget.webhook_delivery_failed",
                        metadata: [
                            "agent_id": "\(alert.agentID)", "period_bucket": "\(alert.day)", "attempt": "\(attempt)", "error": "\(reason)",
                            "retry_in_s": "\(delay)",
                        ])
                } else {
                    try BudgetLedger.delivered(alert, attempt: attempt, on: connection)
                    exporter.deliveries.increment("sent")
                    logger.info(
                        "budget.webhook_delivered",
                        metadata: ["agent_id": "\(alert.agentID)", "period_bucket": "\(alert.day)", "attempt": "\(attempt)"])
                }
                return true
            }
        }

        /// One signed POST: nil when the receiver answered 2xx, else what went wrong (never the secret).
        private func post(_ payload: String) -> String? {
            let signature = BudgetAlertPayload.signature(payload, secret: config.secret)
            guard let body = BudgetAlertPayload.body(payload, signature: signature) else { return "stored payload is not JSON" }
            return HTTPSEndpoint.deliver(body, headers: ["X-Governance-Signature: \(signature)"], with: poster)
        }
    }

    /// The SDK's signing of a budget alert (`cost/webhook.py`).
    enum BudgetAlertPayload {
        static let event = "budget.threshold_crossed"

        /// `sha256=<hex HMAC-SHA256(secret, canonical payload)>`; the stored payload is already canonical.
        static func signature(_ payload: String, secret: String) -> String {
            let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            return "sha256=" + Data(mac).hexString
        }

        /// The payload with its `signature` member, as the SDK posts it.
        static func body(_ payload: String, signature: String) -> [UInt8]? {
            guard case .object(var members)? = try? JSONParser.parse(Array(payload.utf8)) else { return nil }
            members.append(.init("signature", .string(signature)))
            return Array(JSONValue.object(members).serialized(.pythonCanonical).utf8)
        }
    }
#endif
