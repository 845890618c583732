import Config
public import Foundation
public import Pipeline

/// How an OTLP span becomes an audit event (docs/otlp-mapping.md, "Span → audit event"). The dialect is chosen
/// by what the span carries, first match wins:
///
/// | dialect | marker | kind | agent | session | model |
/// |---|---|---|---|---|---|
/// | reference SDK audit span | `gen_ai.audit.event_id` | `gen_ai.audit.kind`, else the name without `audit.` | `gen_ai.agent.id` → resource `gen_ai.agent.id` → `service.name` | `gen_ai.audit.session_id` | `gen_ai.request.model` |
/// | OpenTelemetry GenAI | `gen_ai.operation.name` | `gen_ai.<operation>` | `gen_ai.agent.id` → `gen_ai.agent.name` → resource `service.name` | `gen_ai.conversation.id` → `session.id` → Traceloop's session → trace id | `gen_ai.response.model` → `gen_ai.request.model` |
/// | OpenInference | `openinference.span.kind` | `openinference.<kind, lowercased>` | `agent.name` → `gen_ai.agent.name` → resource `service.name` | `session.id` → trace id | `llm.model_name` |
/// | anything else | — | `otel.span` (only with `keep_unmarked_spans`) | resource `service.name` | trace id | — |
///
/// Traceloop's and Langfuse's markers, and GenAI attributes without an operation name, are
/// recognized too (`Dialect.recognize`; the full table is in docs/otlp-mapping.md).
///
/// A span without its own event id gets a name-based UUID of (trace id, span id), so an
/// exporter's retry is a duplicate; its parent span's id maps the same way to
/// `parent_event_id`. This reads one span; in a whole run (`TraceRun`) the agent, session and
/// parent are resolved over the trace (the nearest ancestor's). Sessions that are not UUIDs are hashed to one. The decision is `deny` for
/// a guardrail or evaluation verdict that refuses, else what the kind says. An error status is
/// not a decision: a provider's 429 on a chat is a failed call, kept as `otel.status` (code 2)
/// and found with the `decision=error` filter.
public enum OTLPSpanMapping {
    /// Whether and how a span maps: `nil` from `event(from:)` means the span carried no marker
    /// and unmarked spans are not kept.
    public static func event(from s: OTLPSpan, workflow: String, keepUnmarked: Bool, receivedAt: Timestamp = .now()) throws(EventRejection)
        -> AuditEvent?
    {
        if s.attribute("gen_ai.audit.event_id") != nil { return try sdkAuditEvent(s, workflow: workflow, receivedAt: receivedAt) }
        guard let dialect = Dialect.recognize(s) ?? (keepUnmarked ? .unmarked : nil) else { return nil }
        return try telemetryEvent(s, dialect, workflow: workflow, receivedAt: receivedAt)
    }

    // MARK: The reference SDK's audit spans

    /// The SDK's `OTelExporter` span, taken back to the event it was made from. Its metadata was
    /// flattened and redacted by the exporter, so the SDK's `hmac` cannot verify over it: the
    /// claim is kept in `otel.claimed_hmac`/`otel.claimed_prev_hash` and the row is chained here.
    /// A collector's span (`span(from:)`) also carries `gen_ai.audit.metadata_json`, the exact
    /// metadata, and then its chain is kept.
    static func sdkAuditEvent(_ s: OTLPSpan, workflow: String, receivedAt: Timestamp) throws(EventRejection) -> AuditEvent {
        guard let eventID = try uuid(s, "gen_ai.audit.event_id") else {
            throw EventRejection(field: "attributes.gen_ai.audit.event_id", message: "must be a non-empty UUID")
        }
        guard let session = try uuid(s, "gen_ai.audit.session_id") else {
            throw EventRejection(field: "attributes.gen_ai.audit.session_id", message: "is required on an audit span")
        }
        let kind = text(s, "gen_ai.audit.kind") ?? (s.name.hasPrefix("audit.") ? String(s.name.dropFirst(6)) : s.name)
        guard !kind.isEmpty else { throw EventRejection(field: "attributes.gen_ai.audit.kind", message: "is required on an audit span") }
        guard let agent = text(s, "gen_ai.agent.id") ?? resourceText(s, "gen_ai.agent.id") ?? resourceText(s, "service.name") else {
            throw EventRejection(field: "attributes.gen_ai.agent.id", message: "is required (on the span or its resource)")
        }
        let metadata: JSONValue
        var chain: (prevHash: String?, hmac: String?) = (nil, nil)
        if let exact = text(s, "gen_ai.audit.metadata_json") {
            // A collector's span carries the exact metadata, so the client's HMAC still verifies: keep the chain.
            guard let parsed = try? JSONParser.parse(exact), case .object = parsed else {
                throw EventRejection(field: "attributes.gen_ai.audit.metadata_json", message: "must hold a JSON object")
            }
            metadata = parsed
            chain = (text(s, "gen_ai.audit.prev_hash"), text(s, "gen_ai.audit.hmac"))
        } else {
            let prefix = "gen_ai.audit.metadata."
            var members: [JSONValue.Member] = s.attributes.filter { $0.key.hasPrefix(prefix) }.map {
                .init(String($0.key.dropFirst(prefix.count)), OTLPMapping.json($0.value))
            }
            var otel = ids(s)
            if let claimed = text(s, "gen_ai.audit.hmac") { otel.append(.init("claimed_hmac", .string(claimed))) }
            if let claimed = text(s, "gen_ai.audit.prev_hash") { otel.append(.init("claimed_prev_hash", .string(claimed))) }
            members.append(.init("otel", .object(otel)))
            metadata = .object(members)
        }
        let decision = text(s, "gen_ai.audit.decision").flatMap(Decision.init(rawValue:)) ?? Decision.infer(fromKind: kind)
        return AuditEvent(
            eventID: eventID, sessionID: session, agentID: agent, kind: kind,
            parentEventID: try uuid(s, "gen_ai.audit.parent_event_id"), model: text(s, "gen_ai.request.model"),
            inputHash: text(s, "gen_ai.audit.input_hash"), outputHash: text(s, "gen_ai.audit.output_hash"),
            metadata: metadata, prevHash: chain.prevHash, hmac: chain.hmac, createdAt: createdAt(s, receivedAt),
            workflow: workflow, sdkVersion: sdkVersion(s), decision: decision)
    }

    // MARK: GenAI, OpenInference and unmarked spans

    /// What a span says about itself, first match wins: the GenAI conventions' operation,
    /// OpenInference's span kind, Traceloop's (OpenLLMetry's) span kind, Langfuse's observation
    /// type, then any other GenAI signal (a `gen_ai.*` attribute, Traceloop's `llm.request.type`),
    /// whose operation is inferred. Agent and tool spans get the same kinds in every dialect
    /// that has them (`gen_ai.invoke_agent`, `gen_ai.execute_tool`), so one filter finds them all.
    enum Dialect {
        case genAI(operation: String), openInference(kind: String), traceloop(kind: String), langfuse(type: String), unmarked

        static func recognize(_ s: OTLPSpan) -> Dialect? {
            if let operation = text(s, "gen_ai.operation.name") { return .genAI(operation: operation) }
            if let kind = text(s, "openinference.span.kind") { return .openInference(kind: kind) }
            if let kind = text(s, "traceloop.span.kind") { return .traceloop(kind: kind.lowercased()) }
            if let type = text(s, "langfuse.observation.type") { return .langfuse(type: type.lowercased()) }
            if text(s, "gen_ai.tool.name") != nil { return .genAI(operation: "execute_tool") }
            if text(s, "gen_ai.agent.name") != nil || text(s, "gen_ai.agent.id") != nil { return .genAI(operation: "invoke_agent") }
            if let type = text(s, "llm.request.type") {
                return .genAI(operation: type.lowercased() == "completion" ? "text_completion" : type.lowercased())
            }
            if llmKeys.contains(where: { text(s, $0) != nil }) { return .genAI(operation: "chat") }
            if s.attributes.contains(where: { $0.key.hasPrefix("gen_ai.") }) { return .genAI(operation: "span") }
            return nil
        }

        /// A span with one of these and no operation name is a model call.
        static let llmKeys = ["gen_ai.request.model", "gen_ai.response.model", "gen_ai.system", "gen_ai.provider.name"]

        var kind: String {
            switch self {
            case .genAI(let operation): "gen_ai.\(operation)"
            case .openInference(let kind): "openinference.\(kind.lowercased())"
            case .traceloop(let kind): ["agent": "gen_ai.invoke_agent", "tool": "gen_ai.execute_tool"][kind] ?? "traceloop.\(kind)"
            case .langfuse(let type):
                ["agent": "gen_ai.invoke_agent", "tool": "gen_ai.execute_tool", "generation": "gen_ai.chat", "embedding": "gen_ai.embeddings"][type]
                    ?? "langfuse.\(type)"
            case .unmarked: "otel.span"
            }
        }
        var agentKeys: [String] {
            switch self {
            case .genAI: ["gen_ai.agent.id", "gen_ai.agent.name"]
            case .openInference: ["agent.name", "gen_ai.agent.name"]
            case .traceloop(let kind): ["gen_ai.agent.name"] + (kind == "agent" ? ["traceloop.entity.name"] : [])
            case .langfuse: ["gen_ai.agent.name"]
            case .unmarked: []
            }
        }
        /// A Langfuse agent or tool observation is named by its span.
        var namedBySpan: Bool {
            if case .langfuse(let type) = self { return type == "agent" || type == "tool" }
            return false
        }
        var sessionKeys: [String] {
            switch self {
            // Traceloop puts its association properties on every span of the run, LLM spans too.
            case .genAI: ["gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id"]
            case .openInference: ["session.id"]
            case .traceloop: ["traceloop.association.properties.session_id", "gen_ai.conversation.id", "session.id"]
            case .langfuse: ["session.id", "langfuse.session.id", "gen_ai.conversation.id"]
            case .unmarked: []
            }
        }
        var modelKeys: [String] {
            switch self {
            case .genAI, .traceloop: ["gen_ai.response.model", "gen_ai.request.model"]
            case .openInference: ["llm.model_name"]
            case .langfuse: ["langfuse.observation.model.name", "gen_ai.response.model", "gen_ai.request.model"]
            case .unmarked: []
            }
        }
        var toolKeys: [String] {
            switch self {
            case .genAI: ["gen_ai.tool.name"]
            case .openInference: ["tool.name"]
            case .traceloop(let kind): ["gen_ai.tool.name"] + (kind == "tool" ? ["traceloop.entity.name"] : [])
            case .langfuse: ["gen_ai.tool.name"]
            case .unmarked: []
            }
        }
    }

    static func telemetryEvent(_ s: OTLPSpan, _ dialect: Dialect, workflow: String, receivedAt: Timestamp) throws(EventRejection) -> AuditEvent {
        let trace = try identified(s)
        let parent = hasParent(s) ? spanUUID(workflow: workflow, s.traceID, s.parentSpanID) : nil
        let session =
            ownSession(s, dialect).map { OTLPMapping.session(named: $0, workflow: workflow) }
            ?? OTLPMapping.derivedSession(workflow: workflow, trace: trace)
        return telemetryEvent(
            s, dialect, attribution: .init(agent: ownAgent(s, dialect) ?? serviceAgent(s), session: session, parentEventID: parent),
            workflow: workflow, receivedAt: receivedAt)
    }

    /// Who a row is booked to, which session it belongs to and which row is its parent: read
    /// from the span alone (`telemetryEvent(_:_:workflow:receivedAt:)`), or resolved over its
    /// whole trace (`TraceRun`).
    struct Attribution {
        var agent: String
        var session: UUID
        var parentEventID: UUID?
    }

    /// The agent the span names itself (a Langfuse agent observation by its span name).
    static func ownAgent(_ s: OTLPSpan, _ dialect: Dialect) -> String? {
        dialect.agentKeys.lazy.compactMap({ text(s, $0) }).first
            ?? (dialect.kind == "gen_ai.invoke_agent" && dialect.namedBySpan && !s.name.isEmpty ? s.name : nil)
    }

    /// The session the span names itself.
    static func ownSession(_ s: OTLPSpan, _ dialect: Dialect) -> String? {
        dialect.sessionKeys.lazy.compactMap({ text(s, $0) }).first
    }

    /// A row with no agent named on it or above it is booked to its service (`unknown_service`,
    /// OpenTelemetry's own default, when the resource names none).
    static func serviceAgent(_ s: OTLPSpan) -> String {
        resourceText(s, "service.name") ?? "unknown_service"
    }

    /// The span's trace id, when it and its span id can identify it (a row's id is made of them).
    public static func identified(_ s: OTLPSpan) throws(EventRejection) -> [UInt8] {
        guard let trace = validTraceID(s) else {
            throw EventRejection(field: "trace_id", message: "must be 16 bytes, not all zero: a span is identified by its trace_id and span_id")
        }
        guard s.spanID.count == 8, s.spanID.contains(where: { $0 != 0 }) else {
            throw EventRejection(field: "span_id", message: "must be 8 bytes, not all zero: a span is identified by its trace_id and span_id")
        }
        return trace
    }

    static func hasParent(_ s: OTLPSpan) -> Bool {
        s.parentSpanID.count == 8 && s.parentSpanID.contains(where: { $0 != 0 })
    }

    static func telemetryEvent(_ s: OTLPSpan, _ dialect: Dialect, attribution: Attribution, workflow: String, receivedAt: Timestamp) -> AuditEvent {
        let spanName = dialect.namedBySpan && !s.name.isEmpty ? s.name : nil
        var members: [JSONValue.Member] = []
        if let tool = dialect.toolKeys.lazy.compactMap({ text(s, $0) }).first ?? (dialect.kind == "gen_ai.execute_tool" ? spanName : nil) {
            members.append(.init("tool", .string(tool)))
        }
        for a in s.attributes { members.append(.init(a.key, OTLPMapping.json(a.value))) }
        var otel: [JSONValue.Member] = [.init("span_name", .string(s.name))]
        otel.append(contentsOf: ids(s))
        if s.kind != 0 { otel.append(.init("span_kind", .number(String(s.kind)))) }
        if s.statusCode != 0 || !s.statusMessage.isEmpty {
            otel.append(.init("status", .object([.init("code", .number(String(s.statusCode))), .init("message", .string(s.statusMessage))])))
        }
        if s.endTimeUnixNano >= s.startTimeUnixNano, s.startTimeUnixNano != 0 {
            otel.append(.init("duration_ns", .number(String(s.endTimeUnixNano - s.startTimeUnixNano))))
        }
        if !s.events.isEmpty {
            otel.append(
                .init(
                    "events",
                    .array(
                        s.events.map { e in
                            .object([
                                .init("name", .string(e.name)), .init("time_unix_nano", .number(String(e.timeUnixNano))),
                                .init("attributes", OTLPMapping.json(.kvlist(e.attributes))),
                            ])
                        })))
        }
        if !s.scopeName.isEmpty {
            otel.append(.init("scope", .object([.init("name", .string(s.scopeName)), .init("version", .string(s.scopeVersion))])))
        }
        if !s.resource.isEmpty { otel.append(.init("resource", OTLPMapping.json(.kvlist(s.resource)))) }
        members.append(.init("otel", .object(otel)))
        let kind = dialect.kind
        return AuditEvent(
            eventID: spanUUID(workflow: workflow, s.traceID, s.spanID), sessionID: attribution.session, agentID: attribution.agent, kind: kind,
            parentEventID: attribution.parentEventID,
            model: dialect.modelKeys.lazy.compactMap({ text(s, $0) }).first,
            inputHash: nil, outputHash: nil, metadata: .object(JSONValue.Member.lastOfEachKey(members)), prevHash: nil, hmac: nil,
            createdAt: createdAt(s, receivedAt), workflow: workflow, sdkVersion: sdkVersion(s),
            decision: refuses(s) ? .deny : Decision.infer(fromKind: kind))
    }

    /// The event id of a span: a name-based UUID of its workflow, trace and span ids, so a
    /// retried export is a duplicate, a child's `parent_event_id` names its parent's row, and
    /// another workflow that learns a trace id cannot claim (or block) its spans.
    public static func spanUUID(workflow: String, _ traceID: [UInt8], _ spanID: [UInt8]) -> UUID {
        UUID.named("otlp.span", workflow + "/" + traceID.hexString + spanID.hexString)
    }

    /// Attributes a guardrail or an evaluation uses for its verdict (with the 2026 GenAI
    /// conventions' `gen_ai.evaluation.score.label`), and the values that refuse.
    static let verdictKeys = [
        "gen_ai.guardrail.decision", "gen_ai.guardrail.action", "guardrail.decision", "gen_ai.evaluation.label", "gen_ai.evaluation.verdict",
        "gen_ai.evaluation.score.label",
    ]
    static let refusingVerdicts: Set<String> = ["deny", "denied", "block", "blocked", "reject", "rejected", "refuse", "refused", "fail", "failed"]

    static func refuses(_ s: OTLPSpan) -> Bool {
        verdictKeys.contains { text(s, $0).map { refusingVerdicts.contains($0.lowercased()) } ?? false }
    }

    // MARK: Helpers

    static func text(_ s: OTLPSpan, _ key: String) -> String? {
        s.attribute(key)?.nonEmptyString
    }

    static func resourceText(_ s: OTLPSpan, _ key: String) -> String? {
        s.resourceAttribute(key)?.nonEmptyString
    }

    static func uuid(_ s: OTLPSpan, _ key: String) throws(EventRejection) -> UUID? {
        guard let text = text(s, key) else { return nil }
        guard let id = UUID(text: text) else { throw EventRejection(field: "attributes.\(key)", message: "must be a UUID") }
        return id
    }

    static func validTraceID(_ s: OTLPSpan) -> [UInt8]? {
        s.traceID.count == 16 && s.traceID.contains(where: { $0 != 0 }) ? s.traceID : nil
    }

    static func ids(_ s: OTLPSpan) -> [JSONValue.Member] {
        var out: [JSONValue.Member] = []
        if !s.traceID.isEmpty { out.append(.init("trace_id", .string(s.traceID.hexString))) }
        if !s.spanID.isEmpty { out.append(.init("span_id", .string(s.spanID.hexString))) }
        if !s.parentSpanID.isEmpty { out.append(.init("parent_span_id", .string(s.parentSpanID.hexString))) }
        return out
    }

    static func createdAt(_ s: OTLPSpan, _ receivedAt: Timestamp) -> Timestamp {
        s.startTimeUnixNano != 0 ? Timestamp(microseconds: Int64(clamping: s.startTimeUnixNano / 1000)) : receivedAt
    }

    static func sdkVersion(_ s: OTLPSpan) -> String? {
        guard let name = resourceText(s, "telemetry.sdk.name") else { return nil }
        return resourceText(s, "telemetry.sdk.version").map { "\(name)/\($0)" } ?? name
    }
}

extension OTLPSpanMapping {
    /// An audit event as a span, for the OTLP exporters: the reference SDK's `OTelExporter`
    /// shape (`audit.<kind>`, zero duration, `gen_ai.audit.*`, flattened
    /// `gen_ai.audit.metadata.<key>`), so Tempo, Jaeger or Phoenix show it as the SDK's would,
    /// plus the exact metadata JSON in `gen_ai.audit.metadata_json`, which `event(from:)` reads
    /// back with the client's chain: collectors chained over OTLP traces store identical rows.
    /// The trace is the session (its UUID's 16 bytes), the span id a hash of the event id.
    public static func span(from e: AuditEvent) -> OTLPSpan {
        var s = OTLPSpan()
        s.scopeName = "governance-collector"
        s.name = "audit.\(e.kind)"
        s.kind = 1  // INTERNAL
        s.traceID = e.sessionID.bytes
        s.spanID = spanID(e.eventID)
        if let parent = e.parentEventID { s.parentSpanID = spanID(parent) }
        s.startTimeUnixNano = UInt64(max(0, e.createdAt.microseconds)) * 1000
        s.endTimeUnixNano = s.startTimeUnixNano
        if e.decision == .deny { s.statusCode = OTLPSpan.statusError }
        var a: [OTLPAttribute] = [
            .init("gen_ai.audit.event_id", .string(e.eventID.lowercasedString)),
            .init("gen_ai.audit.session_id", .string(e.sessionID.lowercasedString)),
            .init("gen_ai.audit.kind", .string(e.kind)),
            .init("gen_ai.agent.id", .string(e.agentID)),
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
        if case .object(let members) = e.metadata {
            for m in members { a.append(.init("gen_ai.audit.metadata.\(m.key)", primitive(m.value))) }
        }
        var metadata: [UInt8] = []
        e.metadata.write(into: &metadata)
        a.append(.init("gen_ai.audit.metadata_json", .string(String(decoding: metadata, as: UTF8.self))))
        s.attributes = a
        return s
    }

    /// A metadata value as a span attribute, as the SDK's exporter flattens it: primitives as
    /// they are, anything else as its JSON text.
    static func primitive(_ value: JSONValue) -> OTLPValue {
        switch value {
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .number(let text): return Int64(text).map(OTLPValue.int) ?? Double(text).map(OTLPValue.double) ?? .string(text)
        default:
            var out: [UInt8] = []
            value.write(into: &out)
            return .string(String(decoding: out, as: UTF8.self))
        }
    }

    static func spanID(_ eventID: UUID) -> [UInt8] {
        Array(UUID.named("otlp.span_id", eventID.lowercasedString).bytes.prefix(8))
    }
}

extension UUID {
    /// The 16 bytes of the UUID, in order.
    var bytes: [UInt8] {
        let u = uuid
        return [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
    }
}
