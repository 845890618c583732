public import Pipeline

/// The delivery cursor of each `checkpoint_witness` URL: the largest checkpoint the witness
/// acknowledged, shared by every collector on the database (claimed with `FOR UPDATE SKIP
/// LOCKED`, so a checkpoint goes to a witness once between them).
public enum WitnessDeliveries {
    public static let schema = SchemaSteps(
        owner: "checkpoint_witness",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_witness_deliveries (
                witness         TEXT        PRIMARY KEY,
                delivered_size  BIGINT      NOT NULL DEFAULT 0,
                attempts        INTEGER     NOT NULL DEFAULT 0,
                last_error      TEXT        NULL,
                next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        ])

    /// A witness's cursor, locked by the open transaction.
    public struct Cursor: Sendable {
        public var deliveredSize: Int
        /// Failed attempts since the last delivery.
        public var attempts: Int
    }

    /// Claims `witness`'s cursor when no other collector holds it and no backoff is running;
    /// call inside a transaction.
    public static func claimDue(_ witness: String, on connection: PGConnection) throws(PGError) -> Cursor? {
        try connection.exec("INSERT INTO governance_witness_deliveries (witness) VALUES ($1) ON CONFLICT DO NOTHING", [witness])
        let rows = try connection.exec(
            """
            SELECT delivered_size, attempts FROM governance_witness_deliveries
            WHERE witness = $1 AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED
            """, [witness]
        ).rows
        guard let row = rows.first, let size = row[0].flatMap({ Int($0) }) else { return nil }
        return Cursor(deliveredSize: size, attempts: Int(row[1] ?? "0") ?? 0)
    }

    public static func deliveryFailed(_ witness: String, attempt: Int, reason: String, retryIn: Double, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            UPDATE governance_witness_deliveries SET attempts = $2, last_error = $3,
                next_attempt_at = now() + make_interval(secs => $4::float8), updated_at = now()
            WHERE witness = $1
            """, [witness, String(attempt), reason, String(retryIn)])
    }

    public static func delivered(_ witness: String, size: Int, on connection: PGConnection) throws(PGError) {
        try connection.exec(
            """
            UPDATE governance_witness_deliveries SET delivered_size = $2::int8, attempts = 0, last_error = NULL, updated_at = now()
            WHERE witness = $1
            """, [witness, String(size)])
    }

    public struct State: Sendable {
        public var witness: String
        public var deliveredSize: String
        public var attempts: String
        public var lastError: String?
    }

    /// Every witness's cursor, for the dashboard.
    public static func all(on connection: PGConnection) throws(PGError) -> [State] {
        try connection.exec("SELECT witness, delivered_size::text, attempts::text, last_error FROM governance_witness_deliveries ORDER BY witness")
            .rows.map { State(witness: $0[0] ?? "", deliveredSize: $0[1] ?? "0", attempts: $0[2] ?? "0", lastError: $0[3]) }
    }
}
