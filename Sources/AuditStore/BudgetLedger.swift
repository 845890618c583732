import Foundation
public import Pipeline

/// The `budget` commit stage's state: spend per agent and UTC day, and the alert outbox (one row
/// per agent, cap and day: the dedup the SDK keeps in memory) that the `budget_webhook` exporter
/// delivers from. Created by the migration whether or not a pipeline uses `budget`, since a
/// webhook of another collector may read the outbox.
public enum BudgetLedger {
    public static let schema = SchemaSteps(
        owner: "budget",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_budget_spend (
                agent_id      TEXT    NOT NULL,
                period_bucket DATE    NOT NULL,
                used_usd      NUMERIC NOT NULL,
                PRIMARY KEY (agent_id, period_bucket)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_budget_alerts (
                agent_id        TEXT        NOT NULL,
                cap_id          TEXT        NOT NULL,
                period_bucket   DATE        NOT NULL,
                payload         TEXT        NOT NULL,
                event_id        UUID        NOT NULL,
                created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
                attempts        INTEGER     NOT NULL DEFAULT 0,
                next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                last_error      TEXT        NULL,
                delivered_at    TIMESTAMPTZ NULL,
                PRIMARY KEY (agent_id, cap_id, period_bucket)
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_budget_alerts_pending ON governance_budget_alerts (next_attempt_at) WHERE delivered_at IS NULL",
        ])

    // MARK: In the commit transaction (PGCommitTransaction)

    static func addSpend(_ spend: [BudgetSpend], alertCap: String, on connection: PGConnection) throws(PGError) -> [BudgetSpend.Total] {
        try connection.exec(
            """
            INSERT INTO governance_budget_spend AS s (agent_id, period_bucket, used_usd)
            SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[])
            ON CONFLICT (agent_id, period_bucket) DO UPDATE SET used_usd = s.used_usd + EXCLUDED.used_usd
            RETURNING agent_id, period_bucket::text, used_usd::text,
                EXISTS (SELECT 1 FROM governance_budget_alerts a
                        WHERE a.agent_id = s.agent_id AND a.cap_id = $4 AND a.period_bucket = s.period_bucket)
            """, [PGArray.text(spend.map(\.agentID)), PGArray.text(spend.map(\.day)), PGArray.text(spend.map { "\($0.usd)" }), alertCap]
        )
        .rows.compactMap { row in
            guard let agent = row[0], let day = row[1], let used = row[2].flatMap({ Decimal(string: $0) }) else { return nil }
            return BudgetSpend.Total(spend: BudgetSpend(agentID: agent, day: day, usd: used), alerted: row[3] == "t")
        }
    }

    static func recordAlert(_ alert: BudgetAlertRecord, on connection: PGConnection) throws(PGError) -> Bool? {
        // The alert event exists already when an operator deleted the alert row to send it again.
        try connection.exec(
            """
            INSERT INTO governance_budget_alerts (agent_id, cap_id, period_bucket, payload, event_id)
            VALUES ($1, $2, $3::date, $4, $5::uuid) ON CONFLICT DO NOTHING
            RETURNING NOT EXISTS (SELECT 1 FROM governance_audit_events WHERE event_id = $5::uuid)
            """, [alert.agentID, alert.capID, alert.day, alert.payload, alert.eventID.lowercasedString]
        ).rows.first.map { $0[0] == "t" }
    }

    // MARK: The outbox (budget_webhook)

    /// An alert due for delivery, locked by the open transaction until it commits.
    public struct DueAlert: Sendable {
        public var agentID: String
        public var capID: String
        public var day: String
        public var payload: String
        /// Deliveries tried before this one.
        public var attempts: Int
    }

    /// Claims the alert due first that no other collector holds; call inside a transaction.
    public static func claimDueAlert(on connection: PGConnection) throws(PGError) -> DueAlert? {
        try connection.exec(
            """
            SELECT agent_id, cap_id, period_bucket::text, payload, attempts FROM governance_budget_alerts
            WHERE delivered_at IS NULL AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """
        ).rows.first.flatMap { row in
            guard let agent = row[0], let cap = row[1], let day = row[2], let payload = row[3] else { return nil }
            return DueAlert(agentID: agent, capID: cap, day: day, payload: payload, attempts: Int(row[4] ?? "0") ?? 0)
        }
    }

    /// Alerts not delivered yet, due or backing off.
    public static func undeliveredCount(on connection: PGConnection) throws(PGError) -> Int {
        Int(try connection.exec("SELECT count(*) FROM governance_budget_alerts WHERE delivered_at IS NULL").rows.first?[0] ?? "0") ?? 0
    }

    /// Records a failed delivery: the next attempt waits `retryIn` seconds.
    public static func deliveryFailed(_ alert: DueAlert, attempt: Int, reason: String, retryIn: Double, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            UPDATE governance_budget_alerts SET attempts = $4, last_error = $5, next_attempt_at = now() + make_interval(secs => $6::float8)
            WHERE agent_id = $1 AND cap_id = $2 AND period_bucket = $3::date
            """, [alert.agentID, alert.capID, alert.day, String(attempt), reason, String(retryIn)])
    }

    public static func delivered(_ alert: DueAlert, attempt: Int, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            UPDATE governance_budget_alerts SET delivered_at = now(), attempts = $4, last_error = NULL
            WHERE agent_id = $1 AND cap_id = $2 AND period_bucket = $3::date
            """, [alert.agentID, alert.capID, alert.day, String(attempt)])
    }

    // MARK: The dashboard

    public struct DaySpend: Sendable {
        public var agentID: String
        public var day: String
        /// Rounded to 4 decimals, as text.
        public var usd: String
    }

    public struct AlertState: Sendable {
        public var agentID: String
        public var capID: String
        public var day: String
        public var delivered: Bool
    }

    /// Spend of the last `days` UTC days, newest day and largest first (at most 50 rows).
    public static func spend(days: Int64, on connection: PGConnection) throws(PGError) -> [DaySpend] {
        try connection.exec(
            """
            SELECT agent_id, period_bucket::text, round(used_usd, 4)::text FROM governance_budget_spend
            WHERE period_bucket > (now() AT TIME ZONE 'UTC')::date - $1::int ORDER BY period_bucket DESC, used_usd DESC LIMIT 50
            """, [String(days)]
        ).rows.map { DaySpend(agentID: $0[0] ?? "", day: $0[1] ?? "", usd: $0[2] ?? "") }
    }

    /// Alerts of the last `days` UTC days, newest first (at most 20).
    public static func alerts(days: Int64, on connection: PGConnection) throws(PGError) -> [AlertState] {
        try connection.exec(
            """
            SELECT agent_id, cap_id, period_bucket::text, delivered_at IS NOT NULL FROM governance_budget_alerts
            WHERE period_bucket > (now() AT TIME ZONE 'UTC')::date - $1::int ORDER BY created_at DESC LIMIT 20
            """, [String(days)]
        ).rows.map { AlertState(agentID: $0[0] ?? "", capID: $0[1] ?? "", day: $0[2] ?? "", delivered: $0[3] == "t") }
    }
}
