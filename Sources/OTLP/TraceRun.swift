public import Config
public import Pipeline

/// How a receiver's spans wait for the rest of their trace: the `otlp` and `otlp_http`
/// receivers' `trace_wait`, `trace_max_wait` and `keep_unmarked_spans`.
public struct TraceSettings: Sendable, Equatable {
    /// A trace whose root has arrived becomes rows once nothing new came for this long (ms).
    public var waitMilliseconds = 2_000
    /// A trace becomes rows this long after its first span arrived, root or not (ms): a run
    /// whose root never comes (a crashed app, a parent in a service that does not export here).
    public var maxWaitMilliseconds = 600_000
    /// Keep every span, not only the runs' (`otel.span` rows).
    public var keepUnmarked = false

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> TraceSettings {
        var t = TraceSettings()
        t.keepUnmarked = try section.bool("keep_unmarked_spans", default: false)
        t.waitMilliseconds = Int(try section.double("trace_wait", default: 2, range: 0...3_600) * 1000)
        t.maxWaitMilliseconds = Int(try section.double("trace_max_wait", default: 600, range: 0...86_400) * 1000)
        guard t.maxWaitMilliseconds >= t.waitMilliseconds else {
            throw section.error("trace_max_wait", "is shorter than trace_wait", fix: "make trace_max_wait at least trace_wait (seconds)")
        }
        return t
    }
}

/// Where a receiver puts the spans that wait for their trace: durably, before it answers.
public protocol SpanStaging: Sendable {
    /// Returns once `spans` (valid ids, not the SDK's complete audit spans) are committed.
    func stage(_ spans: [OTLPSpan], workflow: String, settings: TraceSettings) async throws(PipelineUnavailable)
}

/// What the collector keeps of a trace once it became rows, so a span arriving later is mapped
/// with the agent, session and parent its siblings got.
public struct TraceContext: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        /// The parent span's id (empty for a root).
        var parent: [UInt8]
        /// The agent named on this span or above it (what its children inherit).
        var agent: String?
        /// The session named on this span or above it.
        var session: String?
        /// Whether the span became a row.
        var kept: Bool
    }

    var nodes: [[UInt8]: Node] = [:]
    /// The first session named anywhere in the run, for spans with none on them or above them.
    var session: String?

    public init() {}

    public var isEmpty: Bool { nodes.isEmpty }

    /// `{"session": …, "spans": {"<span id hex>": [parent hex, agent, session, kept]}}`.
    public var json: JSONValue {
        .object([
            .init("session", session.map(JSONValue.string) ?? .null),
            .init(
                "spans",
                .object(
                    nodes.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { id, node in
                        .init(
                            id.hexString,
                            .array([
                                .string(node.parent.hexString), node.agent.map(JSONValue.string) ?? .null,
                                node.session.map(JSONValue.string) ?? .null, .bool(node.kept),
                            ]))
                    })),
        ])
    }

    public init(json: JSONValue) throws(EventRejection) {
        guard case .object(let members) = json else { throw EventRejection(field: "trace context", message: "is not a JSON object") }
        for member in members {
            switch (member.key, member.value) {
            case ("session", .string(let s)): session = s
            case ("spans", .object(let spans)):
                for span in spans {
                    guard let id = Hex.bytes(span.key), case .array(let f) = span.value, f.count == 4, case .string(let parent) = f[0],
                        let parentID = Hex.bytes(parent), case .bool(let kept) = f[3]
                    else {
                        throw EventRejection(field: "trace context span \(span.key)", message: "is malformed")
                    }
                    nodes[id] = Node(parent: parentID, agent: f[1].stringValue, session: f[2].stringValue, kept: kept)
                }
            default: break
            }
        }
    }
}

/// A trace made into audit rows (docs/otlp-mapping.md, "Whole runs"). A trace with any GenAI
/// signal is an agent run: its marked spans become rows, and so do the unmarked spans on the
/// path from them to the root (the app's request span, a framework's workflow span), so the tree
/// is whole; the run's other unmarked spans, and traces with no signal at all, are dropped
/// unless their receiver keeps unmarked spans. Each row gets the agent of its nearest ancestor
/// that names one (else its own service), the session named on it, above it or anywhere in the
/// run (else one derived from the trace id), and as parent its nearest ancestor that is a row.
public struct TraceRun {
    /// One span as staged, with its receiver's `keep_unmarked_spans`.
    public struct Staged: Sendable {
        public var span: OTLPSpan
        public var keepUnmarked: Bool
        public init(span: OTLPSpan, keepUnmarked: Bool) {
            self.span = span
            self.keepUnmarked = keepUnmarked
        }
    }

    public var events: [AuditEvent] = []
    /// Spans that are not part of a run (or not on its path to the root), by service.
    public var dropped: [String: Int] = [:]
    /// Spans already made into rows or dropped earlier (an exporter's retry).
    public var repeated = 0
    /// The trace as it now stands, for spans that arrive later.
    public var context: TraceContext

    /// `spans` are one trace's newly staged spans; `prior` what its earlier assembly kept.
    public init(_ spans: [Staged], prior: TraceContext, workflow: String, receivedAt: Timestamp = .now()) {
        context = prior
        var fresh: [[UInt8]: (staged: Staged, dialect: OTLPSpanMapping.Dialect?)] = [:]
        var order: [[UInt8]] = []
        for staged in spans {
            if prior.nodes[staged.span.spanID] != nil {
                repeated += 1
                continue
            }
            if fresh[staged.span.spanID] == nil { order.append(staged.span.spanID) } else { repeated += 1 }
            fresh[staged.span.spanID] = (staged, OTLPSpanMapping.Dialect.recognize(staged.span))
        }
        func parent(of id: [UInt8]) -> [UInt8]? {
            if let span = fresh[id]?.staged.span { return OTLPSpanMapping.hasParent(span) ? span.parentSpanID : nil }
            return prior.nodes[id].flatMap { $0.parent.isEmpty ? nil : $0.parent }
        }
        func known(_ id: [UInt8]) -> Bool { fresh[id] != nil || prior.nodes[id] != nil }
        // Every walk up the tree below stops at a span it has seen: a parent loop ends, and the
        // work is linear in the trace's size even for one long chain (a hostile export).

        // Each known span's depth, counted from the top of what this trace knows.
        var depth: [[UInt8]: Int] = [:]
        for id in order where depth[id] == nil {
            var path: [[UInt8]] = []
            var onPath: Set<[UInt8]> = []
            var next: [UInt8]? = id
            var base = -1
            while let p = next, known(p), onPath.insert(p).inserted {
                if let d = depth[p] { base = d; break }
                path.append(p)
                next = parent(of: p)
            }
            for (offset, p) in path.reversed().enumerated() { depth[p] = base + 1 + offset }
        }

        // Which new spans become rows: the marked ones, those their receiver keeps anyway, and
        // every new span on the way from a row (new or earlier) up to the root.
        var kept: Set<[UInt8]> = []
        for id in order where fresh[id]!.dialect != nil || fresh[id]!.staged.keepUnmarked { kept.insert(id) }
        var climbed: Set<[UInt8]> = []
        for id in order.filter({ fresh[$0]!.dialect != nil }) + prior.nodes.filter(\.value.kept).map(\.key) {
            var next = parent(of: id)
            while let p = next, known(p), climbed.insert(p).inserted {
                if fresh[p] != nil { kept.insert(p) }
                next = parent(of: p)
            }
        }

        // The run's session: the first named on a new span, root-most first, unless one is known.
        if context.session == nil {
            let named = order.compactMap { id -> (depth: Int, start: UInt64, session: String)? in
                let (staged, dialect) = fresh[id]!
                return OTLPSpanMapping.ownSession(staged.span, dialect ?? .unmarked).map { (depth[id] ?? 0, staged.span.startTimeUnixNano, $0) }
            }
            context.session = named.min { ($0.depth, $0.start) < ($1.depth, $1.start) }?.session
        }

        // Resolve parents before children: a new span's agent and session are its own, else its parent's.
        var resolved: [[UInt8]: TraceContext.Node] = [:]
        func node(_ id: [UInt8]) -> TraceContext.Node? { resolved[id] ?? prior.nodes[id] }
        for id in order.sorted(by: { (depth[$0] ?? 0) < (depth[$1] ?? 0) }) {
            let (staged, dialect) = fresh[id]!
            let above = parent(of: id).flatMap(node)
            resolved[id] = TraceContext.Node(
                parent: OTLPSpanMapping.hasParent(staged.span) ? staged.span.parentSpanID : [],
                agent: OTLPSpanMapping.ownAgent(staged.span, dialect ?? .unmarked) ?? above?.agent,
                session: OTLPSpanMapping.ownSession(staged.span, dialect ?? .unmarked) ?? above?.session,
                kept: kept.contains(id))
        }

        // The nearest ancestor that is a row, remembered for the spans passed on the way.
        var rowAboveOf: [[UInt8]: [UInt8]?] = [:]
        func rowAbove(_ id: [UInt8]) -> [UInt8]? {
            var path: [[UInt8]] = []
            var seen: Set<[UInt8]> = [id]
            var next = parent(of: id)
            var found: [UInt8]?
            while let p = next, known(p), seen.insert(p).inserted {
                if node(p)?.kept == true { found = p; break }
                if let remembered = rowAboveOf[p] { found = remembered; break }
                path.append(p)
                next = parent(of: p)
            }
            for p in path { rowAboveOf[p] = found }
            return found
        }

        for id in order {
            let (staged, dialect) = fresh[id]!
            let n = resolved[id]!
            context.nodes[id] = n
            guard n.kept else {
                dropped[OTLPSpanMapping.resourceText(staged.span, "service.name") ?? "", default: 0] += 1
                continue
            }
            let s = staged.span
            let row = rowAbove(id)
            let session =
                (n.session ?? context.session).map { OTLPMapping.session(named: $0, workflow: workflow) }
                ?? OTLPMapping.derivedSession(workflow: workflow, trace: s.traceID)
            let attribution = OTLPSpanMapping.Attribution(
                agent: n.agent ?? OTLPSpanMapping.serviceAgent(s), session: session,
                parentEventID: row.map { OTLPSpanMapping.spanUUID(workflow: workflow, s.traceID, $0) })
            events.append(
                OTLPSpanMapping.telemetryEvent(s, dialect ?? .unmarked, attribution: attribution, workflow: workflow, receivedAt: receivedAt))
        }
    }
}
