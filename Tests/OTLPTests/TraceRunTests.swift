import Foundation
import OTLP
import Pipeline
import Testing

/// How a whole trace becomes rows (`TraceRun`): which spans are kept, and the agent, session and
/// parent each row gets, also for spans that arrive after their trace became rows.
@Suite("trace runs: recognition by trace, attribution, late spans")
struct TraceRunTests {
    static let trace: [UInt8] = Array(1...16)

    /// A span of `trace` with id `id`, under `parent`, from service `trip-app`.
    static func span(_ id: UInt8, parent: UInt8? = nil, _ name: String, _ attributes: [(String, String)] = []) -> OTLPSpan {
        var s = OTLPSpan()
        s.resource = [.init("service.name", .string("trip-app"))]
        s.traceID = trace
        s.spanID = [0, 0, 0, 0, 0, 0, 0, id]
        if let parent { s.parentSpanID = [0, 0, 0, 0, 0, 0, 0, parent] }
        s.name = name
        s.startTimeUnixNano = 1_764_590_000_000_000_000 + UInt64(id)
        s.attributes = attributes.map { .init($0.0, .string($0.1)) }
        return s
    }

    static func staged(_ spans: [OTLPSpan], keepUnmarked: Bool = false) -> [TraceRun.Staged] {
        spans.map { .init(span: $0, keepUnmarked: keepUnmarked) }
    }

    static func id(_ span: UInt8) -> UUID { OTLPSpanMapping.spanUUID(workflow: "wf", trace, [0, 0, 0, 0, 0, 0, 0, span]) }

    /// The app's request (unmarked) → an agent → a chat and a tool naming no agent; a database
    /// query under the tool (unmarked), and a health check beside the agent (unmarked).
    static let run = [
        span(4, parent: 2, "chat gpt-4o", [("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o")]),
        span(6, parent: 5, "SELECT flights"),
        span(5, parent: 2, "search_flights", [("gen_ai.tool.name", "search_flights")]),
        span(
            2, parent: 1, "invoke_agent planner",
            [
                ("gen_ai.operation.name", "invoke_agent"), ("gen_ai.agent.name", "planner"),
                ("gen_ai.conversation.id", "conv-1"),
            ]),
        span(3, parent: 1, "GET /health"),
        span(1, "POST /trips"),
    ]

    @Test(
        "children arrive before their agent and the app's root: every row is booked to the nearest agent above it, in the run's session, under a parent that is a row; unmarked spans off the path to the root are dropped"
    )
    func attribution() throws {
        let run = TraceRun(Self.staged(Self.run), prior: TraceContext(), workflow: "wf")
        let rows = Dictionary(uniqueKeysWithValues: run.events.map { ($0.eventID, $0) })
        let session = OTLPMapping.derivedSession(workflow: "wf", name: "conv-1")
        #expect(Set(rows.keys) == Set([1, 2, 4, 5].map(Self.id)))
        #expect(run.dropped == ["trip-app": 2])
        let root = try #require(rows[Self.id(1)])
        #expect(
            root.kind == "otel.span" && root.agentID == "trip-app" && root.parentEventID == nil && root.sessionID == session,
            "the root names no agent and nothing is above it: its service; it takes the run's session")
        let agent = try #require(rows[Self.id(2)])
        #expect(agent.kind == "gen_ai.invoke_agent" && agent.agentID == "planner" && agent.parentEventID == Self.id(1))
        let chat = try #require(rows[Self.id(4)])
        #expect(chat.kind == "gen_ai.chat" && chat.agentID == "planner" && chat.parentEventID == Self.id(2) && chat.sessionID == session)
        let tool = try #require(rows[Self.id(5)])
        #expect(tool.kind == "gen_ai.execute_tool" && tool.agentID == "planner" && tool.parentEventID == Self.id(2) && tool.sessionID == session)
    }

    @Test("a span arriving after its trace became rows is mapped with the kept context; one sent again is a repeat, not a row")
    func lateSpans() throws {
        let first = TraceRun(
            Self.staged(Array(Self.run.filter { $0.spanID.last != 5 && $0.spanID.last != 6 })), prior: TraceContext(), workflow: "wf")
        #expect(first.events.count == 3)
        // The context survives its JSON form (what PostgreSQL keeps).
        let kept = try TraceContext(
            json: JSONParser.parse(
                Array(
                    {
                        var out: [UInt8] = []; first.context.json.write(into: &out); return out
                    }())))
        #expect(kept == first.context)
        let late = TraceRun(Self.staged([Self.run[2], Self.run[1], Self.run[0]]), prior: kept, workflow: "wf")
        #expect(late.repeated == 1, "the chat was made a row already")
        #expect(late.dropped == ["trip-app": 1], "the database query under the tool")
        let tool = try #require(late.events.first)
        #expect(
            late.events.count == 1 && tool.eventID == Self.id(5) && tool.agentID == "planner" && tool.parentEventID == Self.id(2)
                && tool.sessionID == OTLPMapping.derivedSession(workflow: "wf", name: "conv-1"))
    }

    @Test("an app root that arrives after the run became rows (its maximum wait passed) is kept, as the top of the run")
    func lateRoot() throws {
        let first = TraceRun(Self.staged(Array(Self.run.prefix(4))), prior: TraceContext(), workflow: "wf")
        #expect(Set(first.events.map(\.eventID)) == Set([2, 4, 5].map(Self.id)))
        #expect(first.events.first { $0.eventID == Self.id(2) }?.parentEventID == nil, "its parent is not known yet: no dangling parent")
        let late = TraceRun(Self.staged([Self.run[5]]), prior: first.context, workflow: "wf")
        #expect(late.events.map(\.eventID) == [Self.id(1)])
    }

    @Test("a trace with no GenAI signal is dropped whole, unless its receiver keeps unmarked spans; a parent loop ends")
    func unmarkedTraces() {
        let plain = [Self.span(1, "GET /"), Self.span(2, parent: 3, "a"), Self.span(3, parent: 2, "b")]
        let dropped = TraceRun(Self.staged(plain), prior: TraceContext(), workflow: "wf")
        #expect(dropped.events.isEmpty && dropped.dropped == ["trip-app": 3])
        let kept = TraceRun(Self.staged(plain, keepUnmarked: true), prior: TraceContext(), workflow: "wf")
        #expect(kept.events.map(\.kind) == ["otel.span", "otel.span", "otel.span"])
        #expect(kept.events.allSatisfy { $0.agentID == "trip-app" })
    }

    @Test("one chain of 10,000 spans with a chat at the bottom: every span is on the chat's path to the root and becomes a row under its parent")
    func longChain() {
        func id(_ n: Int) -> [UInt8] { [0, 0, 0, 0, 0, 0, UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] }
        let spans = (1...10_000).map { n in
            var s = Self.span(0, "step \(n)")
            s.spanID = id(n)
            s.parentSpanID = n == 1 ? [] : id(n - 1)
            if n == 10_000 { s.attributes = [.init("gen_ai.operation.name", .string("chat"))] }
            return s
        }
        let run = TraceRun(Self.staged(spans.reversed()), prior: TraceContext(), workflow: "wf")
        #expect(run.events.count == 10_000 && run.dropped.isEmpty)
        let parents = Dictionary(uniqueKeysWithValues: run.events.map { ($0.eventID, $0.parentEventID) })
        #expect(
            (2...10_000).allSatisfy { n in
                parents[OTLPSpanMapping.spanUUID(workflow: "wf", Self.trace, id(n))]
                    == OTLPSpanMapping.spanUUID(workflow: "wf", Self.trace, id(n - 1))
            })
    }
}
