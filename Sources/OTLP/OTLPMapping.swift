import Config
public import Foundation
public import Pipeline

/// How an OTLP log record becomes an audit event (docs/otlp-mapping.md, "Log record → audit event"):
///
/// | audit field | from |
/// |---|---|
/// | kind | `event_name`, else attribute `event.name`, else `gen_ai.audit.kind` (required) |
/// | agent_id | attribute `gen_ai.agent.id`, else the resource's (required) |
/// | session_id | `gen_ai.audit.session_id`, else `session.id` (a non-UUID value is hashed to one), else the trace id |
/// | event_id | `gen_ai.audit.event_id` or `event.id` (UUID), else a hash of the record, so a retried export is a duplicate |
/// | created_at | `time_unix_nano`, else `observed_time_unix_nano`, else the time of receipt |
/// | parent_event_id, input_hash, output_hash, prev_hash, hmac | `gen_ai.audit.*` of the same names (a client's chain is kept) |
/// | model | `gen_ai.request.model` |
/// | metadata | `gen_ai.audit.metadata_json` (exact JSON), else the other attributes, plus `otel`: body, severity, trace/span ids, scope, resource |
public enum OTLPMapping {
    static let consumed: Set<String> = [
        "event.name", "event.id", "session.id", "gen_ai.agent.id", "gen_ai.request.model", "gen_ai.audit.kind",
        "gen_ai.audit.session_id", "gen_ai.audit.event_id", "gen_ai.audit.parent_event_id", "gen_ai.audit.input_hash",
        "gen_ai.audit.output_hash", "gen_ai.audit.prev_hash", "gen_ai.audit.hmac", "gen_ai.audit.metadata_json",
        "gen_ai.audit.decision", "gen_ai.audit.workflow", "gen_ai.audit.seq",
    ]

    public static func event(from r: OTLPLogRecord, workflow: String, receivedAt: Timestamp = .now()) throws(EventRejection) -> AuditEvent {
        func text(_ key: String) -> String? {
            if case .string(let s)? = r.attribute(key), !s.isEmpty { return s }
            return nil
        }
        func uuid(_ key: String) throws(EventRejection) -> UUID? {
            guard let s = text(key) else { return nil }
            guard let id = UUID(text: s) else { throw EventRejection(field: "attributes.\(key)", message: "must be a UUID") }
            return id
        }
        guard let kind = [r.eventName, text("event.name"), text("gen_ai.audit.kind")].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw EventRejection(field: "event_name", message: "is required: set LogRecord.event_name or the event.name attribute")
        }
        let resourceAgent: String? =
            if case .string(let s)? = r.resource.last(where: { $0.key == "gen_ai.agent.id" })?.value, !s.isEmpty { s } else { nil }
        guard let agent = text("gen_ai.agent.id") ?? resourceAgent else {
            throw EventRejection(field: "attributes.gen_ai.agent.id", message: "is required (on the record or its resource)")
        }
        let session: UUID
        if let id = try uuid("gen_ai.audit.session_id") {
            session = id
        } else if let s = text("session.id") {
            session = UUID(text: s) ?? derivedSession(workflow: workflow, name: s)
        } else if r.traceID.count == 16, r.traceID.contains(where: { $0 != 0 }) {
            session = derivedSession(workflow: workflow, trace: r.traceID)
        } else {
            throw EventRejection(field: "attributes.session.id", message: "is required when the record has no trace_id")
        }
        var eventID = try uuid("gen_ai.audit.event_id")
        if eventID == nil { eventID = try uuid("event.id") }
        let nanos = r.timeUnixNano != 0 ? r.timeUnixNano : r.observedTimeUnixNano
        let createdAt = nanos != 0 ? Timestamp(microseconds: Int64(clamping: nanos / 1000)) : receivedAt

        var metadata: JSONValue
        if let exact = text("gen_ai.audit.metadata_json") {
            guard let parsed = try? JSONParser.parse(exact), case .object = parsed else {
                throw EventRejection(field: "attributes.gen_ai.audit.metadata_json", message: "must hold a JSON object")
            }
            metadata = parsed
        } else {
            var members: [JSONValue.Member] = []
            for a in r.attributes where !consumed.contains(a.key) {
                let key = a.key.hasPrefix("gen_ai.audit.metadata.") ? String(a.key.dropFirst("gen_ai.audit.metadata.".count)) : a.key
                members.append(.init(key, json(a.value)))
            }
            var otel: [JSONValue.Member] = []
            if let body = r.body { otel.append(.init("body", json(body))) }
            if !r.severityText.isEmpty { otel.append(.init("severity_text", .string(r.severityText))) }
            if r.severityNumber != 0 { otel.append(.init("severity_number", .number(String(r.severityNumber)))) }
            if !r.traceID.isEmpty { otel.append(.init("trace_id", .string(r.traceID.hexString))) }
            if !r.spanID.isEmpty { otel.append(.init("span_id", .string(r.spanID.hexString))) }
            if !r.scopeName.isEmpty {
                otel.append(.init("scope", .object([.init("name", .string(r.scopeName)), .init("version", .string(r.scopeVersion))])))
            }
            if !r.resource.isEmpty { otel.append(.init("resource", json(.kvlist(r.resource)))) }
            if !otel.isEmpty { members.append(.init("otel", .object(otel))) }
            metadata = .object(JSONValue.Member.lastOfEachKey(members))
        }
        let sdk: String? = {
            guard case .string(let name)? = r.resource.last(where: { $0.key == "telemetry.sdk.name" })?.value else { return nil }
            if case .string(let version)? = r.resource.last(where: { $0.key == "telemetry.sdk.version" })?.value { return "\(name)/\(version)" }
            return name
        }()
        let parent = try uuid("gen_ai.audit.parent_event_id")
        return AuditEvent(
            eventID: eventID ?? recordUUID(r, workflow: workflow), sessionID: session, agentID: agent, kind: kind,
            parentEventID: parent, model: text("gen_ai.request.model"),
            inputHash: text("gen_ai.audit.input_hash"), outputHash: text("gen_ai.audit.output_hash"),
            metadata: metadata, prevHash: text("gen_ai.audit.prev_hash"), hmac: text("gen_ai.audit.hmac"),
            createdAt: createdAt, workflow: workflow, sdkVersion: sdk, decision: Decision.infer(fromKind: kind))
    }

    /// An AnyValue as JSON: kvlists become objects, bytes base64, non-finite doubles strings.
    public static func json(_ value: OTLPValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(String(i))
        case .double(let d):
            // As Python prints a float; one whose stored jsonb text would read back as another
            // value (an int from 1e16 up, like a non-finite one) is kept as a string.
            let text = d.isFinite ? JSONValue.pythonFloat(d) : "\(d)"
            return d.isFinite && JSONBRoundTrip.firstProblem(in: .number(text), path: "") == nil ? .number(text) : .string(text)
        case .bytes(let b): return .string(Data(b).base64EncodedString())
        case .array(let items): return .array(items.map(json))
        case .kvlist(let members): return .object(JSONValue.Member.lastOfEachKey(members.map { .init($0.key, json($0.value)) }))
        case .empty: return .null
        }
    }

    /// A session named by a trace id or a `session.id` that is not a UUID: derived per workflow,
    /// so one workflow cannot take a session another will use by guessing its trace id.
    static func derivedSession(workflow: String, trace: [UInt8]) -> UUID {
        UUID.named("otlp.trace", workflow + "/" + trace.hexString)
    }

    /// A session as named by a client: its UUID, or one derived from a name that is not.
    static func session(named name: String, workflow: String) -> UUID {
        UUID(text: name) ?? derivedSession(workflow: workflow, name: name)
    }

    public static func derivedSession(workflow: String, name: String) -> UUID {
        UUID.named("session.id", workflow + "/" + name)
    }

    /// The same record of the same workflow always gets the same id, so an exporter's retry is stored once.
    static func recordUUID(_ r: OTLPLogRecord, workflow: String) -> UUID {
        var canonical: [UInt8] = []
        JSONValue.array([
            .string(workflow),
            .number(String(r.timeUnixNano)), .number(String(r.observedTimeUnixNano)), .string(r.eventName),
            .string(r.traceID.hexString), .string(r.spanID.hexString), .number(String(r.severityNumber)),
            .string(r.severityText), r.body.map(json) ?? .null, json(.kvlist(r.attributes)), json(.kvlist(r.resource)),
            .string(r.scopeName), .string(r.scopeVersion),
        ]).write(into: &canonical)
        return UUID.named("otlp.log_record", String(decoding: canonical, as: UTF8.self))
    }
}

extension OTLPMapping {
    /// An audit event as a log record, for the `otlp_http` exporter: the attribute names the
    /// SDK's OpenTelemetry exporter uses (`gen_ai.agent.id`, `gen_ai.audit.*`), the exact
    /// metadata JSON in `gen_ai.audit.metadata_json`, the kind as `event_name`. `event(from:)`
    /// reads it back to the same event, so collectors can chain over OTLP.
    public static func record(from e: AuditEvent, observedAt: Timestamp = .now()) -> OTLPLogRecord {
        var r = OTLPLogRecord()
        r.scopeName = "governance-collector"
        r.timeUnixNano = UInt64(max(0, e.createdAt.microseconds)) * 1000
        r.observedTimeUnixNano = UInt64(max(0, observedAt.microseconds)) * 1000
        r.severityNumber = e.decision == .deny ? 13 : 9  // WARN for denials, else INFO
        r.severityText = e.decision == .deny ? "WARN" : "INFO"
        r.eventName = e.kind
        r.body = .string(e.kind)
        var metadata: [UInt8] = []
        e.metadata.write(into: &metadata)
        var a: [OTLPAttribute] = [
            .init("gen_ai.agent.id", .string(e.agentID)),
            .init("gen_ai.audit.event_id", .string(e.eventID.lowercasedString)),
            .init("gen_ai.audit.session_id", .string(e.sessionID.lowercasedString)),
            .init("gen_ai.audit.kind", .string(e.kind)),
            .init("gen_ai.audit.metadata_json", .string(String(decoding: metadata, as: UTF8.self))),
        ]
        func add(_ key: String, _ value: String?) { if let value { a.append(.init(key, .string(value))) } }
        add("gen_ai.audit.hmac", e.hmac)
        add("gen_ai.audit.prev_hash", e.prevHash)
        add("gen_ai.audit.parent_event_id", e.parentEventID?.lowercasedString)
        add("gen_ai.audit.input_hash", e.inputHash)
        add("gen_ai.audit.output_hash", e.outputHash)
        add("gen_ai.request.model", e.model)
        add("gen_ai.audit.decision", e.decision?.rawValue)
        add("gen_ai.audit.workflow", e.workflow.isEmpty ? nil : e.workflow)
        if let seq = e.seq { a.append(.init("gen_ai.audit.seq", .int(seq))) }
        r.attributes = a
        return r
    }
}
