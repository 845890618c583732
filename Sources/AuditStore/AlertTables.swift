import Config
public import Foundation
public import Pipeline

/// The alert evaluator's tables: each rule's state per subject (the whole rule, or one agent or
/// session), and an outbox of notifications written in the same transaction as the state change
/// that caused them. So a restart neither repeats an alert (the state says it fired) nor loses
/// one (its notifications wait in the outbox), and several collectors deliver each once
/// (`FOR UPDATE SKIP LOCKED`). Also the measurements rules make of the audit table.
public enum AlertTables {
    public static let schema = SchemaSteps(
        owner: "alerts",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_alert_state (
                rule        TEXT             NOT NULL,
                subject     TEXT             NOT NULL,
                firing      BOOLEAN          NOT NULL,
                value       DOUBLE PRECISION NOT NULL,
                fired_at    TIMESTAMPTZ,
                resolved_at TIMESTAMPTZ,
                updated_at  TIMESTAMPTZ      NOT NULL DEFAULT now(),
                PRIMARY KEY (rule, subject)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_alert_deliveries (
                id              BIGSERIAL   PRIMARY KEY,
                rule            TEXT        NOT NULL,
                subject         TEXT        NOT NULL,
                transition      TEXT        NOT NULL CHECK (transition IN ('fired', 'resolved')),
                destination     TEXT        NOT NULL,
                alert           TEXT        NOT NULL,  -- as serialized: what the webhook signs
                created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
                attempts        INTEGER     NOT NULL DEFAULT 0,
                next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                delivered_at    TIMESTAMPTZ,
                last_error      TEXT
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_alert_deliveries_due ON governance_alert_deliveries (next_attempt_at) WHERE delivered_at IS NULL",
        ])

    /// The one evaluator per database holds this session advisory lock.
    static let evaluatorLockKey: Int64 = 0x6763_616c  // "gcal"

    public static func migrate(_ connection: PGConnection) throws(PGError) {
        try AuditSchema.inMigration(connection) { () throws(PGError) in
            for statement in schema.statements { try connection.exec(statement) }
        }
    }

    public static func holdsEvaluatorLock(_ connection: PGConnection) throws(PGError) -> Bool {
        try connection.holdsSessionLock(evaluatorLockKey)
    }

    public struct State: Sendable, Equatable {
        public var firing: Bool
        public var value: Double
        /// Seconds since the rule last fired for this subject (nil: never).
        public var firedSecondsAgo: Double?
    }

    /// Every subject's state of `rule`, as of `now` (the evaluation's time).
    public static func states(of rule: String, at now: Timestamp, on connection: PGConnection) throws(PGError) -> [String: State] {
        var states: [String: State] = [:]
        for row in try connection.exec(
            "SELECT subject, firing, value, extract(epoch FROM $2::timestamptz - fired_at)::float8 FROM governance_alert_state WHERE rule = $1",
            [rule, now.pythonISOFormat]
        ).rows {
            states[row[0] ?? ""] = State(firing: row[1] == "t", value: Double(row[2] ?? "") ?? 0, firedSecondsAgo: row[3].flatMap { Double($0) })
        }
        return states
    }

    /// A rule's subject that fired or resolved, and the notifications it owes.
    public struct Transition: Sendable {
        public var rule: String
        public var subject: String
        public var fired: Bool
        public var value: Double
        /// The alert as JSON text (what each destination renders), and where it goes.
        public var alert: String
        public var destinations: [String]

        public init(rule: String, subject: String, fired: Bool, value: Double, alert: String, destinations: [String]) {
            (self.rule, self.subject, self.fired, self.value, self.alert, self.destinations) = (rule, subject, fired, value, alert, destinations)
        }
    }

    /// Forgets the state of rules no longer configured (they would show as firing forever).
    public static func forgetRules(except configured: [String], on connection: PGConnection) throws(PGError) {
        try connection.exec("DELETE FROM governance_alert_state WHERE NOT (rule = ANY($1::text[]))", [PGArray.text(configured)])
    }

    /// Records the state changes (at `now`) and their notifications in one transaction.
    public static func record(_ transitions: [Transition], at now: Timestamp, on connection: PGConnection) throws(PGError) {
        guard !transitions.isEmpty else { return }
        try connection.transaction { () throws(PGError) in
            for t in transitions {
                try connection.exec(
                    """
                    INSERT INTO governance_alert_state (rule, subject, firing, value, fired_at, resolved_at)
                    VALUES ($1, $2, $3, $4, CASE WHEN $3 THEN $5::timestamptz END, CASE WHEN NOT $3 THEN $5::timestamptz END)
                    ON CONFLICT (rule, subject) DO UPDATE SET firing = EXCLUDED.firing, value = EXCLUDED.value,
                        fired_at = coalesce(EXCLUDED.fired_at, governance_alert_state.fired_at),
                        resolved_at = coalesce(EXCLUDED.resolved_at, governance_alert_state.resolved_at), updated_at = now()
                    """, [t.rule, t.subject, t.fired ? "true" : "false", String(t.value), now.pythonISOFormat])
                for destination in t.destinations {
                    try connection.exec(
                        "INSERT INTO governance_alert_deliveries (rule, subject, transition, destination, alert) VALUES ($1, $2, $3, $4, $5)",
                        [t.rule, t.subject, t.fired ? "fired" : "resolved", destination, t.alert])
                }
            }
        }
    }

    public struct Delivery: Sendable {
        public var id: Int64
        public var rule: String
        public var subject: String
        public var transition: String
        public var destination: String
        public var alert: String
        public var attempts: Int
    }

    /// The oldest due notification, leased for `lease` seconds (another evaluator after a
    /// failover waits that long before it tries the same one); nil when none is due. A
    /// destination gets a rule's notifications in order: a resolution waits for its firing.
    public static func claimDue(lease: Double, on connection: PGConnection) throws(PGError) -> Delivery? {
        guard
            let row = try connection.exec(
                """
                UPDATE governance_alert_deliveries SET next_attempt_at = now() + $1::float8 * interval '1 second'
                WHERE id = (SELECT id FROM governance_alert_deliveries d WHERE delivered_at IS NULL AND next_attempt_at <= now()
                              AND NOT EXISTS (SELECT 1 FROM governance_alert_deliveries p WHERE p.rule = d.rule AND p.subject = d.subject
                                              AND p.destination = d.destination AND p.id < d.id AND p.delivered_at IS NULL)
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, rule, subject, transition, destination, alert, attempts
                """, [String(lease)]
            ).rows.first, let id = row[0].flatMap({ Int64($0) })
        else { return nil }
        return Delivery(
            id: id, rule: row[1] ?? "", subject: row[2] ?? "", transition: row[3] ?? "", destination: row[4] ?? "", alert: row[5] ?? "{}",
            attempts: row[6].flatMap { Int($0) } ?? 0)
    }

    public static func delivered(_ delivery: Delivery, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            "UPDATE governance_alert_deliveries SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1",
            [String(delivery.id)])
    }

    public static func deliveryFailed(_ delivery: Delivery, reason: String, retryIn seconds: Double, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            UPDATE governance_alert_deliveries SET attempts = attempts + 1, last_error = $2,
                next_attempt_at = now() + $3::float8 * interval '1 second' WHERE id = $1
            """, [String(delivery.id), reason, String(seconds)])
    }

    /// Every rule's state per subject, firing first (for the dashboard).
    public struct Listed: Sendable {
        public var rule, subject: String
        public var firing: Bool
        public var value: Double
        /// Seconds since the last change (firing or resolving).
        public var changedSecondsAgo: Double
    }

    public static func list(on connection: PGConnection) throws(PGError) -> [Listed] {
        try connection.exec(
            """
            SELECT rule, subject, firing, value, extract(epoch FROM now() - greatest(fired_at, resolved_at))::float8
            FROM governance_alert_state ORDER BY firing DESC, rule, subject LIMIT 200
            """
        ).rows.map {
            Listed(
                rule: $0[0] ?? "", subject: $0[1] ?? "", firing: $0[2] == "t", value: Double($0[3] ?? "") ?? 0,
                changedSecondsAgo: Double($0[4] ?? "") ?? 0)
        }
    }

    /// The delivery log, newest first (for the UI and `governance-collector`'s operators).
    public struct Logged: Sendable {
        public var rule, subject, transition, destination: String
        public var attempts: Int
        public var delivered: Bool
        public var lastError: String?
    }

    public static func deliveryLog(limit: Int = 100, on connection: PGConnection) throws(PGError) -> [Logged] {
        try connection.exec(
            """
            SELECT rule, subject, transition, destination, attempts, delivered_at IS NOT NULL, last_error
            FROM governance_alert_deliveries ORDER BY id DESC LIMIT \(limit)
            """
        ).rows.map {
            Logged(
                rule: $0[0] ?? "", subject: $0[1] ?? "", transition: $0[2] ?? "", destination: $0[3] ?? "", attempts: $0[4].flatMap { Int($0) } ?? 0,
                delivered: $0[5] == "t", lastError: $0[6])
        }
    }
}

/// What an alert rule selects and measures in the audit table, over the last `window` seconds
/// of `created_at` (indexed).
public struct AlertSelection: Sendable, Equatable {
    public var workflow: String?
    public var agent: String?
    public var kindPrefix: String?
    public var decision: String?
    public var signatureStatuses: [String] = []
    /// Top-level metadata members that must equal these strings.
    public var metadata: [(key: String, value: String)] = []

    public init() {}

    public static func == (a: AlertSelection, b: AlertSelection) -> Bool {
        (a.workflow, a.agent, a.kindPrefix, a.decision, a.signatureStatuses) == (b.workflow, b.agent, b.kindPrefix, b.decision, b.signatureStatuses)
            && a.metadata.map(\.key) == b.metadata.map(\.key) && a.metadata.map(\.value) == b.metadata.map(\.value)
    }

    /// SQL conditions (parameters from `$\(first)`): the window `(now - window, now]` first.
    func conditions(window: Double, now: Timestamp, first: Int = 1) -> (sql: String, params: [String?]) {
        // The collector's own events (alerts among them) are never counted.
        var conditions = [
            "created_at > $\(first + 1)::timestamptz - $\(first)::float8 * interval '1 second'", "created_at <= $\(first + 1)::timestamptz",
            "agent_id <> '\(SystemIdentity.agent)'",
        ]
        var params: [String?] = [String(window), now.pythonISOFormat]
        func add(_ sql: (String) -> String, _ value: String) {
            params.append(value)
            conditions.append(sql("$\(first + params.count - 1)"))
        }
        if let workflow { add({ "workflow = \($0)" }, workflow) }
        if let agent { add({ "agent_id = \($0)" }, agent) }
        if let kindPrefix { add({ "starts_with(kind, \($0))" }, kindPrefix) }
        if let decision { add({ "decision = \($0)" }, decision) }
        if !signatureStatuses.isEmpty { add({ "signature_status = ANY(\($0)::text[])" }, PGArray.text(signatureStatuses)) }
        for member in metadata {
            params.append(member.key)
            params.append(member.value)
            conditions.append("metadata_json->>$\(first + params.count - 2) = $\(first + params.count - 1)")
        }
        return (conditions.joined(separator: " AND "), params)
    }
}

/// The measurements behind alert rules, each one statement.
public enum AlertMeasures {
    /// Events selected in the window.
    public static func count(_ selection: AlertSelection, window: Double, now: Timestamp, on connection: PGConnection) throws(PGError) -> Int {
        let (sql, params) = selection.conditions(window: window, now: now)
        return Int(try connection.exec("SELECT count(*) FROM governance_audit_events WHERE \(sql)", params).rows.first?[0] ?? "0") ?? 0
    }

    /// Of the events selected in the window, how many `part` selects too, and how many there are.
    public static func ratio(
        _ selection: AlertSelection, part: AlertSelection, window: Double, now: Timestamp, on connection: PGConnection
    ) throws(PGError) -> (part: Int, all: Int) {
        let (sql, params) = selection.conditions(window: window, now: now)
        // The part's own window is the same one: its conditions hold for every row counted.
        let (partSQL, partParams) = part.conditions(window: window, now: now, first: params.count + 1)
        let row = try connection.exec(
            "SELECT count(*) FILTER (WHERE \(partSQL)), count(*) FROM governance_audit_events WHERE \(sql)", params + partParams
        ).rows.first
        return (Int(row?[0] ?? "0") ?? 0, Int(row?[1] ?? "0") ?? 0)
    }

    /// The cost (`field` of metadata, a number or a string of one) of the events selected in the
    /// window, summed per agent or per session; only subjects whose sum is above `above`. A value
    /// with more digits or a larger exponent than a cost has is ignored, so no event can make the
    /// sum overflow and the rule fail.
    public static func cost(
        _ selection: AlertSelection, field: String, perSession: Bool, window: Double, above: Double, now: Timestamp, on connection: PGConnection
    ) throws(PGError) -> [String: Double] {
        let (sql, params) = selection.conditions(window: window, now: now, first: 3)
        let subject = perSession ? "session_id::text" : "agent_id"
        let rows = try connection.exec(
            """
            SELECT \(subject), sum(CASE WHEN (metadata_json->>$1) ~ '^[0-9]{1,20}(\\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?$' THEN (metadata_json->>$1)::numeric END)::float8 AS spent
            FROM governance_audit_events WHERE \(sql) GROUP BY 1 HAVING sum(CASE WHEN (metadata_json->>$1) ~ '^[0-9]{1,20}(\\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?$' THEN (metadata_json->>$1)::numeric END) > $2::numeric
            """, [field, String(above)] + params
        ).rows
        var sums: [String: Double] = [:]
        for row in rows { sums[row[0] ?? ""] = Double(row[1] ?? "") ?? 0 }
        return sums
    }

    /// Per checkpoint witness, how long ago the oldest checkpoint it has not received was
    /// signed; a witness with nothing pending is absent.
    public static func witnessLagSeconds(on connection: PGConnection) throws(PGError) -> [String: Double] {
        guard try CheckpointTables.exist(on: connection) else { return [:] }
        var lags: [String: Double] = [:]
        for row in try connection.exec(
            """
            SELECT w.witness, extract(epoch FROM now() - min(c.created_at))::float8
            FROM governance_witness_deliveries w JOIN governance_checkpoints c ON c.tree_size > w.delivered_size GROUP BY w.witness
            """
        ).rows {
            lags[row[0] ?? ""] = Double(row[1] ?? "") ?? 0
        }
        return lags
    }

    /// How long the oldest row the checkpoint signer has not taken into its tree has waited
    /// (0: none waits), nil when no signer has run on this database.
    public static func signerLagSeconds(on connection: PGConnection) throws(PGError) -> Double? {
        guard try CheckpointTables.exist(on: connection) else { return nil }
        let rows = try connection.exec(
            """
            SELECT extract(epoch FROM clock_timestamp() - e.received_at)::float8 FROM governance_audit_events e
            WHERE (e.governance_txid, e.chain_seq) > (coalesce((SELECT cursor_txid FROM governance_checkpoint_state), '0'::xid8),
                                                      coalesce((SELECT cursor_chain_seq FROM governance_checkpoint_state), 0))
            ORDER BY e.governance_txid, e.chain_seq LIMIT 1
            """
        ).rows
        return rows.first?[0].flatMap { Double($0) } ?? 0
    }
}
