/// `# HELP` lines for `/metrics`: what each metric means, as the metrics tables of docs/operations.md and docs/components/ say.
/// swift-metrics has no place for help text, so the telemetry server adds it to the exposition.
enum MetricsHelp {
    static let text: [String: String] = [
        "governance_receiver_requests_total": "HTTP requests a receiver answered, by status code.",
        "governance_receiver_events_total": "Events submitted through a receiver, by outcome (stored, duplicate, rejected).",
        "governance_processor_rejected_events_total": "Events a processor refused (processor=\"pipeline\": the final storability check).",
        "governance_processor_dropped_events_total": "Outgoing copies an egress processor refused.",
        "governance_processor_redactions_total": "Secrets the redaction processor replaced, by kind.",
        "governance_postgres_events_total": "Events the postgres exporter handled, by result (stored, duplicate, rejected, unavailable).",
        "governance_postgres_commit_duration_seconds": "Duration of one group-commit transaction, BEGIN to COMMIT.",
        "governance_postgres_commit_batch_events": "Events per group-commit transaction.",
        "governance_postgres_connected_writers": "Writer threads with a live PostgreSQL connection.",
        "governance_budget_alerts_total": "Budget threshold crossings this collector recorded.",
        "governance_budget_invalid_costs_total": "Cost fields that were not a non-negative number (ignored).",
        "governance_budget_webhook_deliveries_total": "Budget webhook attempts, by result (sent, failed).",
        "governance_budget_webhook_pending": "Budget alerts not delivered yet.",
        "governance_checkpoint_witness_deliveries_total": "Checkpoint witness attempts, by result (sent, failed).",
        "governance_checkpoint_witness_pending": "Signed checkpoints the witness has not received yet.",
        "governance_alerts_fired_total": "Alert firings this collector's evaluator recorded.",
        "governance_alert_deliveries_total": "Alert notification attempts, by result (sent, failed).",
        "governance_verification_failed":
            "1 once the continuous verifier found a row or checkpoint that does not verify (kept until cleared), else 0.",
        "governance_verification_rows_checked_total": "Rows the continuous verifier checked against signed checkpoints.",
        "governance_retention_removed_rows_total": "Rows retention removed, each under a seal.",
        "governance_retention_seals_total": "Retention seals this collector wrote (one per pass that removed rows).",
        "governance_listener_connections": "Connections open on a listener (receivers, ui, telemetry).",
        "governance_listener_connections_accepted_total": "Connections a listener accepted.",
        "governance_listener_timeouts_total": "Connections closed by a listener timeout, by phase (header, body, idle).",
        "governance_listener_at_capacity_total": "Times a listener was at max_connections (accepting paused; gRPC: a connection closed at once).",
        "governance_agent_signature_events_total": "Agent signature verdicts the agent_signatures processor gave, by status.",
        "governance_agent_signature_keys": "Agent keys usable for signature checks (configured and loaded, not revoked).",
        "governance_agent_signature_revoked_keys": "Revoked agent key fingerprints loaded from the database.",
        "governance_in_flight_bytes": "Request bytes being read, decoded or committed now (the in-flight budget in use).",
        "governance_in_flight_limit_bytes": "The in-flight budget (service.in_flight_limit_mib), bytes.",
        "governance_in_flight_refused_total": "Requests refused (503 / RESOURCE_EXHAUSTED) because the in-flight budget was spent.",
    ]

    /// Per-exporter families of the platform bridge and the OTLP exporter (`DeliveryCounters`).
    static let delivery: [String: String] = [
        "sent_total": "Events the destination accepted.",
        "duplicates_total": "Events the destination already had (counted as delivered).",
        "retries_total": "Retried attempts.",
        "dropped_queue_full_total": "Oldest events dropped because the memory queue was full.",
        "dropped_4xx_total": "Events dropped on a 4xx answer.",
        "dropped_5xx_total": "Events dropped after 5xx answers or connection errors outlasted the retry budget.",
        "dropped_seq_conflict_total": "Events dropped after a seq conflict the retry could not settle.",
        "disabled": "1 after a 401/402 disabled the exporter until restart.",
        "lag_seconds": "Durable mode: age of the oldest undelivered event.",
        "queue_size": "Events waiting in the memory queue.",
        "queue_capacity": "Size of the memory queue.",
    ]

    static func help(for name: String) -> String? {
        if let text = text[name] { return text }
        for prefix in ["governance_platform_bridge_", "governance_otlp_exporter_"] where name.hasPrefix(prefix) {
            return delivery[String(name.dropFirst(prefix.count))]
        }
        return nil
    }

    /// The exposition with a `# HELP` line before each `# TYPE` line it has text for.
    static func annotate(_ exposition: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(exposition.count + 4096)
        for line in exposition.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("# TYPE "), let name = text.dropFirst(7).split(separator: " ").first, let help = help(for: String(name)) {
                out.append(contentsOf: "# HELP \(name) \(help)\n".utf8)
            }
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
        }
        if out.last == UInt8(ascii: "\n"), exposition.last == UInt8(ascii: "\n") { out.removeLast() }
        return out
    }
}
