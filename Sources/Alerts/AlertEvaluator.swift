package import AuditStore
import CoreMetrics
import Foundation
package import Logging
package import Pipeline
import ServiceLifecycle

/// One evaluation, on its connection: if it holds the evaluator lock, measure every rule,
/// compare with each rule's stored state, and record what fired or resolved with the
/// notifications it owes, in one transaction.
package struct AlertEvaluation {
    let connection: PGConnection
    let config: AlertsConfig
    /// The time windows end at and cooldowns count to (the wall clock; a test's own instant).
    let now: Timestamp

    package init(connection: PGConnection, config: AlertsConfig, now: Timestamp = .now()) {
        (self.connection, self.config, self.now) = (connection, config, now)
    }

    package struct Outcome: Sendable {
        package var transitions: [AlertTables.Transition] = []
        /// Rules whose measure failed this time, with why: the others were evaluated.
        package var failed: [(rule: String, error: String)] = []
    }

    /// Nil while another collector evaluates; else the transitions recorded.
    package func run() throws -> Outcome? {
        guard try AlertTables.holdsEvaluatorLock(connection) else { return nil }
        var outcome = Outcome()
        try AlertTables.forgetRules(except: config.rules.map(\.name), on: connection)
        for rule in config.rules {
            let measured: Result<(values: [String: Double], firing: Set<String>), PGError> = Result { () throws(PGError) in try measure(rule) }
            guard case .success(let (values, firing)) = measured else {
                if case .failure(let error) = measured {
                    if error.connectionLost { throw error }
                    // One rule's failure (a statement PostgreSQL refused) must not silence the others.
                    outcome.failed.append((rule.name, "\(error)"))
                }
                continue
            }
            var transitions: [AlertTables.Transition] = []
            let states = try AlertTables.states(of: rule.name, at: now, on: connection)
            for subject in firing.sorted() where states[subject]?.firing != true {
                // A rule that resolved fires again for the same subject only after its cooldown.
                if let ago = states[subject]?.firedSecondsAgo, ago < rule.cooldown { continue }
                transitions.append(transition(rule, subject: subject, fired: true, value: values[subject] ?? 0))
            }
            for (subject, state) in states.sorted(by: { $0.key < $1.key }) where state.firing && !firing.contains(subject) {
                transitions.append(transition(rule, subject: subject, fired: false, value: values[subject] ?? 0))
            }
            try AlertTables.record(transitions, at: now, on: connection)
            outcome.transitions += transitions
        }
        return outcome
    }

    /// The rule's value per subject ("" for a rule about the whole database) and the subjects
    /// over its threshold.
    func measure(_ rule: AlertRule) throws(PGError) -> (values: [String: Double], firing: Set<String>) {
        func whole(_ value: Double, firing: Bool) -> ([String: Double], Set<String>) { (["": value], firing ? [""] : []) }
        switch rule.measure {
        case .count:
            let n = Double(try AlertMeasures.count(rule.selection, window: rule.window, now: now, on: connection))
            return whole(n, firing: n > rule.above)
        case .ratio(let part, let minEvents):
            let counted = try AlertMeasures.ratio(rule.selection, part: part, window: rule.window, now: now, on: connection)
            let share = counted.all == 0 ? 0 : Double(counted.part) / Double(counted.all)
            return whole(share, firing: counted.all >= minEvents && share > rule.above)
        case .cost(let field, let perSession):
            let sums = try AlertMeasures.cost(
                rule.selection, field: field, perSession: perSession, window: rule.window, above: rule.above, now: now, on: connection)
            return (sums, Set(sums.keys))
        case .verificationFailed:
            let failed = try VerificationProgress.load(connection)?.failure != nil
            return whole(failed ? 1 : 0, firing: failed && 1 > rule.above)
        case .invalidSignatures:
            var selection = rule.selection
            selection.signatureStatuses = ["invalid_signature", "unknown_key", "revoked_key"]
            let n = Double(try AlertMeasures.count(selection, window: rule.window, now: now, on: connection))
            return whole(n, firing: n > rule.above)
        case .signerLag:
            let lag = try AlertMeasures.signerLagSeconds(on: connection) ?? 0
            return whole(lag, firing: lag > rule.above)
        case .witnessLag:
            let lags = try AlertMeasures.witnessLagSeconds(on: connection)
            return (lags, Set(lags.filter { $0.value > rule.above }.keys))
        }
    }

    func transition(_ rule: AlertRule, subject: String, fired: Bool, value: Double) -> AlertTables.Transition {
        AlertTables.Transition(
            rule: rule.name, subject: subject, fired: fired, value: value,
            alert: AlertNotice.json(rule, subject: subject, fired: fired, value: value, at: now).serialized(.pythonCanonical),
            destinations: rule.destinations + (config.auditEvents ? [AlertNotice.auditEventDestination] : []))
    }
}

/// The alert as every destination receives it (before each renders it its own way).
package enum AlertNotice {
    /// The outbox's name for "submit it through the pipeline as an audit event".
    static let auditEventDestination = "(audit event)"
    static let type = "governance.alert/v1"

    /// `id` names this firing or resolution (the same in every copy and every retry), so a
    /// receiver can drop a repeat after a crash between its answer and the outbox's commit.
    static func json(_ rule: AlertRule, subject: String, fired: Bool, value: Double, at now: Timestamp) -> JSONValue {
        func number(_ x: Double) -> JSONValue { .number(x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)) }
        let measure: String
        switch rule.measure {
        case .count: measure = "count"
        case .ratio: measure = "ratio"
        case .cost(_, let perSession): measure = perSession ? "cost_per_session" : "cost_per_agent"
        case .verificationFailed: measure = "verification_failed"
        case .invalidSignatures: measure = "invalid_signatures"
        case .signerLag: measure = "signer_lag_seconds"
        case .witnessLag: measure = "witness_lag_seconds"
        }
        let state = fired ? "fired" : "resolved"
        return .object([
            .init("type", .string(type)),
            .init("id", .string(UUID.named(type, "\(rule.name)\n\(subject)\n\(state)\n\(now.microseconds)").lowercasedString)),
            .init("at", .string(now.pythonISOFormat)), .init("rule", .string(rule.name)), .init("subject", .string(subject)),
            .init("state", .string(state)), .init("severity", .string(rule.severity)), .init("measure", .string(measure)),
            .init("value", number(value)), .init("above", number(rule.above)), .init("window_seconds", number(rule.window)),
            .init("message", .string(fired ? rule.message : rule.resolveMessage)),
        ])
    }

    /// `audit.alert.fired`, `audit.alert.resolved` or `audit.alert.delivered`; the event id is
    /// named by the outbox row, so a repeat after a crash is a duplicate, not a second row.
    static func auditEvent(_ delivery: AlertTables.Delivery, kind: String, alert: JSONValue) -> AuditEvent {
        var members: [JSONValue.Member] = [.init("alert", alert), .init("outbox_id", .number(String(delivery.id)))]
        if kind.hasSuffix("delivered") { members.append(.init("destination", .string(delivery.destination))) }
        return AuditEvent(
            eventID: UUID.named(kind, String(delivery.id) + "/" + delivery.destination), sessionID: UUID.named("audit.alert.session", delivery.rule),
            agentID: SystemIdentity.agent, kind: kind, metadata: .object(members), createdAt: .now(), workflow: SystemIdentity.workflow)
    }
}

/// The alert evaluator: one per database (a session advisory lock), an evaluation every
/// `interval`, then the notifications due, each retried with backoff until delivered (across
/// restarts: they wait in `governance_alert_deliveries`).
package final class AlertEvaluator: Service, Sendable {
    let config: AlertsConfig
    let worker: PGWorker
    let pipeline: Pipeline?
    let clock: any Clock<Duration>
    let logger: Logger
    let fired: Counter
    let deliveries: CounterFamily

    package init(
        config: AlertsConfig, database: AuditDatabase, pipeline: Pipeline?, telemetry: Telemetry, clock: any Clock<Duration>, logger: Logger
    ) {
        self.config = config
        worker = database.worker(applicationName: "governance-collector alerts")
        (self.pipeline, self.clock, self.logger) = (pipeline, clock, logger)
        fired = telemetry.counter("governance_alerts_fired_total")
        deliveries = telemetry.counterFamily("governance_alert_deliveries_total", [], varying: "result")
    }

    package func run() async throws {
        let config = config
        var migrated = false
        await RepeatingStep.run(on: clock, logger: logger, failure: "alerts.retrying", maxBackoff: 30) {
            if !migrated {
                try await worker.run { try AlertTables.migrate($0) }
                migrated = true
            }
            guard let outcome = try await worker.run({ try AlertEvaluation(connection: $0, config: config).run() }) else {
                return config.interval
            }
            for (rule, error) in outcome.failed {
                logger.error("alerts.rule_failed", metadata: ["rule": "\(rule)", "error": "\(error)"])
            }
            for t in outcome.transitions {
                if t.fired { fired.increment() }
                logger.notice(
                    t.fired ? "alerts.fired" : "alerts.resolved", metadata: ["rule": "\(t.rule)", "subject": "\(t.subject)", "value": "\(t.value)"])
            }
            try await deliverDue()
            return config.interval
        }
    }

    /// Every notification due now, one at a time.
    private func deliverDue() async throws {
        while let delivery = try await worker.run({ try AlertTables.claimDue(lease: 60, on: $0) }) {
            let alert = (try? JSONParser.parse(Array(delivery.alert.utf8))) ?? .object([])
            var failure: String?
            var sent = false
            if delivery.destination == AlertNotice.auditEventDestination {
                failure = await submit(AlertNotice.auditEvent(delivery, kind: "audit.alert.\(delivery.transition)", alert: alert))
            } else if let destination = config.destinations[delivery.destination] {
                failure = try await worker.run { _ in AlertSender.send(alert, delivery: delivery, to: destination) }
                sent = failure == nil
            } else {
                failure = "destination `\(delivery.destination)` is no longer configured"
            }
            if let failure {
                let retry = min(300, pow(2, Double(min(delivery.attempts + 1, 20))))
                try await worker.run { try AlertTables.deliveryFailed(delivery, reason: failure, retryIn: retry, on: $0) }
                deliveries.increment("failed")
                logger.warning(
                    "alerts.delivery_failed",
                    metadata: ["rule": "\(delivery.rule)", "destination": "\(delivery.destination)", "error": "\(failure)", "retry_in_s": "\(retry)"])
            } else {
                try await worker.run { try AlertTables.delivered(delivery, on: $0) }
                deliveries.increment("sent")
                // Recorded after the outbox says delivered: a refused event never sends the notification again.
                if sent, config.auditEvents, let refused = await submit(AlertNotice.auditEvent(delivery, kind: "audit.alert.delivered", alert: alert))
                {
                    logger.warning("alerts.delivery_event_failed", metadata: ["rule": "\(delivery.rule)", "error": "\(refused)"])
                }
            }
        }
    }

    /// Nil when the pipeline took the event (a duplicate counts: it is already stored).
    private func submit(_ event: AuditEvent) async -> String? {
        guard let pipeline else { return "no pipeline to submit the alert's audit event to" }
        do {
            let outcome = try await pipeline.submit([event], from: .collector).first
            return outcome?.isAccepted == true ? nil : "the pipeline refused the alert's audit event: \(String(describing: outcome))"
        } catch {
            return "\(error)"
        }
    }
}
