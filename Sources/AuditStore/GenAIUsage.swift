import Config
import Crypto
import Foundation
public import Pipeline

/// What the GenAI metrics of agent stacks (token usage, operation duration) added up to, per
/// minute, workflow, service, model, metric and token type; and, per series, the last
/// cumulative point seen, so each cumulative point adds only what is new since the previous
/// one. A point older than the series' last (a retried export) adds nothing.
public enum GenAIUsage {
    public static let schema = SchemaSteps(
        owner: "genai_usage",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_genai_usage (
                bucket     TIMESTAMPTZ NOT NULL,
                workflow   TEXT        NOT NULL,
                service    TEXT        NOT NULL,
                model      TEXT        NOT NULL,
                metric     TEXT        NOT NULL,
                token_type TEXT        NOT NULL,
                count      BIGINT      NOT NULL,
                sum        FLOAT8      NOT NULL,
                PRIMARY KEY (bucket, workflow, service, model, metric, token_type)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS governance_genai_series (
                workflow TEXT        NOT NULL,
                series   TEXT        NOT NULL,
                time_ns  BIGINT      NOT NULL,
                count    BIGINT      NOT NULL,
                sum      FLOAT8      NOT NULL,
                seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (workflow, series)
            )
            """,
        ])

    /// Held for the length of a recording transaction: two collectors recording points of one
    /// series at once would both add its increment.
    static let recordLockKey: Int64 = 0x6763_6d65_7472_6963  // "gcmetric"

    /// How long minutes and series are kept: the dashboard's longest window, and a day more.
    static let keepDays = 8

    /// One point to record, its series already named by the receiver.
    public struct Point: Sendable {
        public var series: String
        public var service: String
        public var model: String
        public var metric: String
        public var tokenType: String
        public var timeUnixNano: UInt64
        public var cumulative: Bool
        public var count: Int64
        public var sum: Double

        public init(
            series: String, service: String, model: String, metric: String, tokenType: String,
            timeUnixNano: UInt64, cumulative: Bool, count: Int64, sum: Double
        ) {
            (self.series, self.service, self.model, self.metric, self.tokenType) = (series, service, model, metric, tokenType)
            (self.timeUnixNano, self.cumulative, self.count, self.sum) = (timeUnixNano, cumulative, count, sum)
        }
    }

    /// Adds what `points` add to the current minute, in one transaction. `prune` also deletes
    /// minutes and series older than `keepDays`.
    public static func record(_ points: [Point], workflow: String, prune: Bool, on connection: PGConnection) throws(PGError) {
        guard !points.isEmpty else { return }
        try connection.exec("BEGIN")
        do throws(PGError) {
            try connection.exec("SELECT pg_advisory_xact_lock(\(recordLockKey))")
            let keys = points.map { SHA256.hash(data: Data($0.series.utf8)).hexString }
            var last: [String: (time: Int64, count: Int64, sum: Double)] = [:]
            for row in try connection.exec(
                "SELECT series, time_ns, count, sum FROM governance_genai_series WHERE workflow = $1 AND series = ANY($2::text[])",
                [workflow, PGArray.text(Array(Set(keys)))]
            ).rows {
                guard let key = row[0], let time = row[1].flatMap({ Int64($0) }), let count = row[2].flatMap({ Int64($0) }),
                    let sum = row[3].flatMap({ Double($0) })
                else {
                    throw PGError(
                        message: "governance_genai_series has an unreadable row (\(row[0] ?? "null"))", sqlState: nil, connectionLost: false)
                }
                last[key] = (time, count, sum)
            }
            var added: [[String]: (count: Int64, sum: Double)] = [:]
            var seen: [String: (time: Int64, count: Int64, sum: Double)] = [:]
            for (point, key) in zip(points, keys) {
                let time = Int64(clamping: point.timeUnixNano)
                var count = point.count, sum = point.sum
                if point.cumulative {
                    let previous = seen[key] ?? last[key]
                    if let previous {
                        guard time > previous.time else { continue }
                        // A count that went down is a reset the start time did not show: all of it is new.
                        if point.count >= previous.count { (count, sum) = (point.count - previous.count, point.sum - previous.sum) }
                    }
                    seen[key] = (time, point.count, point.sum)
                }
                guard count != 0 || sum != 0 else { continue }
                let dimensions = [point.service, point.model, point.metric, point.tokenType]
                added[dimensions, default: (0, 0)].count += count
                added[dimensions]!.sum += sum
            }
            if !seen.isEmpty {
                let series = Array(seen)
                try connection.exec(
                    """
                    INSERT INTO governance_genai_series (workflow, series, time_ns, count, sum)
                    SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::float8[])
                    ON CONFLICT (workflow, series) DO UPDATE SET time_ns = excluded.time_ns, count = excluded.count, sum = excluded.sum, seen_at = now()
                    """,
                    [
                        workflow, PGArray.text(series.map(\.key)), PGArray.text(series.map { String($0.value.time) }),
                        PGArray.text(series.map { String($0.value.count) }), PGArray.text(series.map { String($0.value.sum) }),
                    ])
            }
            if !added.isEmpty {
                let rows = Array(added)
                try connection.exec(
                    """
                    INSERT INTO governance_genai_usage (bucket, workflow, service, model, metric, token_type, count, sum)
                    SELECT date_trunc('minute', now()), $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::float8[])
                    ON CONFLICT (bucket, workflow, service, model, metric, token_type)
                    DO UPDATE SET count = governance_genai_usage.count + excluded.count, sum = governance_genai_usage.sum + excluded.sum
                    """,
                    [workflow] + (0..<4).map { i in PGArray.text(rows.map { $0.key[i] }) }
                        + [PGArray.text(rows.map { String($0.value.count) }), PGArray.text(rows.map { String($0.value.sum) })])
            }
            if prune {
                try connection.exec("DELETE FROM governance_genai_usage WHERE bucket < now() - interval '\(keepDays) days'")
                try connection.exec("DELETE FROM governance_genai_series WHERE seen_at < now() - interval '\(keepDays) days'")
            }
            try connection.exec("COMMIT")
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }

    /// Usage per service and model since `since` (µs since the epoch), most operations first.
    public struct ModelUsage: Sendable, Equatable {
        public var service: String
        public var model: String
        /// Calls measured by `gen_ai.client.operation.duration`, and their summed seconds.
        public var operations: Int64
        public var seconds: Double
        /// `gen_ai.client.token.usage` by token type.
        public var inputTokens: Double
        public var outputTokens: Double
    }

    public static func usage(since: Timestamp, workflow: String?, limit: Int, on connection: PGConnection) throws(PGError) -> [ModelUsage] {
        var params: [String?] = [since.pythonISOFormat]
        if let workflow { params.append(workflow) }
        return try connection.exec(
            """
            SELECT service, model,
                   coalesce(sum(count) FILTER (WHERE metric = 'gen_ai.client.operation.duration'), 0)::int8,
                   coalesce(sum(sum) FILTER (WHERE metric = 'gen_ai.client.operation.duration'), 0),
                   coalesce(sum(sum) FILTER (WHERE metric = 'gen_ai.client.token.usage' AND token_type = 'input'), 0),
                   coalesce(sum(sum) FILTER (WHERE metric = 'gen_ai.client.token.usage' AND token_type = 'output'), 0)
            FROM governance_genai_usage WHERE bucket >= $1::timestamptz\(workflow == nil ? "" : " AND workflow = $2")
            GROUP BY service, model ORDER BY 3 DESC, 5 DESC, service, model LIMIT \(limit)
            """, params
        ).rows.map { row in
            ModelUsage(
                service: row[0] ?? "", model: row[1] ?? "", operations: row[2].flatMap { Int64($0) } ?? 0,
                seconds: row[3].flatMap { Double($0) } ?? 0, inputTokens: row[4].flatMap { Double($0) } ?? 0,
                outputTokens: row[5].flatMap { Double($0) } ?? 0)
        }
    }
}
