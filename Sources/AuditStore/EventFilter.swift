public import Foundation
public import Pipeline

/// Which events a reader wants, as the timeline's query string and `export`'s options spell it:
/// every filter optional, all combined with AND, each turned into SQL an index serves.
public struct EventFilter: Sendable {
    public var workflow: String?
    public var agent: String?
    /// Exact, or a prefix when it ends in `*` (as `governance-collector tail --kind`).
    public var kind: String?
    /// `allow`, `deny` or `none` (no decision recorded), or `error`: a failed call (a span whose
    /// status was ERROR, kept as `otel.status.code` 2), which is not a policy decision.
    public var decision: String?
    public var model: String?
    public var session: UUID?
    public var from: Timestamp?
    public var to: Timestamp?
    /// `key=value` (the value at a dotted key path equals it) or `key` (the path exists).
    public var metadata: [MetadataCondition] = []
    /// Words that must all appear in metadata keys or values (web-search syntax: `"a phrase"`,
    /// `or`, `-word`), whole words, case-insensitive.
    public var text: String?
    /// The keyset cursor: the last row of the previous page (`<created_at µs>_<event_id>`).
    public var before: Cursor?
    /// The same, going forward (exports read oldest first).
    public var after: Cursor?
    /// The reader's scope, set by the server (never read from a query): nil reads every
    /// workflow; otherwise rows of other workflows are not read at all (an empty list reads none).
    public var workflows: [String]?

    public init() {}

    /// A position in `(created_at, event_id)` order.
    public struct Cursor: Sendable, Equatable {
        public var micros: Int64
        public var id: UUID

        public init(micros: Int64, id: UUID) {
            self.micros = micros
            self.id = id
        }

        public init?(_ text: String) {
            let parts = text.split(separator: "_")
            guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(text: String(parts[1])) else { return nil }
            self.init(micros: micros, id: id)
        }

        public init(_ e: AuditEvent) { self.init(micros: e.createdAt.microseconds, id: e.eventID) }

        public var text: String { "\(micros)_\(id.lowercasedString)" }
    }

    /// One metadata condition: `path` is the key path (`tool`, or `request.model` for a nested key).
    public struct MetadataCondition: Sendable, Equatable {
        public var path: [String]
        /// nil: the key exists.
        public var value: String?

        /// `key=value` or `key`; nil when the key is empty.
        public init?(_ text: String) {
            let (key, value): (Substring, Substring?) =
                text.firstIndex(of: "=").map { (text[..<$0], text[text.index(after: $0)...]) } ?? (text[...], nil)
            let path = key.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { return nil }
            self.path = path
            self.value = value.map { $0.trimmingCharacters(in: .whitespaces) }
        }

        public var text: String { path.joined(separator: ".") + (value.map { "=" + $0 } ?? "") }
    }

    /// Reads the filters from query parameters; a value that cannot be understood is reported, not ignored.
    public static func parse(_ query: [String: String]) -> (EventFilter, problems: [String]) {
        var f = EventFilter(), problems: [String] = []
        // PostgreSQL text cannot hold NUL: refused here, naming the parameter, not by the database.
        for (name, text) in query.sorted(by: { $0.key < $1.key }) where text.utf8.contains(0) {
            problems.append("\(name) contains a NUL character")
        }
        let query = query.filter { !$0.value.utf8.contains(0) }
        func value(_ name: String) -> String? {
            query[name].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        f.workflow = value("workflow")
        f.agent = value("agent")
        f.kind = value("kind")
        f.model = value("model")
        if let d = value("decision") {
            if ["allow", "deny", "none", "error"].contains(d) {
                f.decision = d
            } else {
                problems.append("decision must be allow, deny, none or error")
            }
        }
        if let s = value("session") {
            if let id = UUID(text: s) { f.session = id } else { problems.append("session is not a UUID") }
        }
        if let m = value("meta") {
            if let condition = MetadataCondition(m) {
                f.metadata = [condition]
            } else {
                problems.append("meta must be key=value or key (a dotted path for nested keys, e.g. request.model=gpt-4o)")
            }
        }
        f.text = value("q")
        for name in ["from", "to"] {
            guard let text = value(name) else { continue }
            if let time = Self.time(text) {
                if name == "from" { f.from = time } else { f.to = time }
            } else {
                problems.append("\(name) is not a time like 2026-11-25T09:30 (UTC) or RFC 3339")
            }
        }
        if let cursor = value("before") {
            if let c = Cursor(cursor) { f.before = c } else { problems.append("before is not a page cursor") }
        }
        return (f, problems)
    }

    /// RFC 3339, or what `<input type="datetime-local">` sends (read as UTC).
    public static func time(_ text: String) -> Timestamp? {
        Timestamp(iso8601: text) ?? Timestamp(iso8601: text + (text.count == 16 ? ":00Z" : "Z"))
    }

    /// The filters as query parameters (without a cursor), for links, the live stream and exports.
    public var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let workflow { items.append(("workflow", workflow)) }
        if let agent { items.append(("agent", agent)) }
        if let kind { items.append(("kind", kind)) }
        if let decision { items.append(("decision", decision)) }
        if let model { items.append(("model", model)) }
        if let session { items.append(("session", session.lowercasedString)) }
        if let condition = metadata.first { items.append(("meta", condition.text)) }
        if let text { items.append(("q", text)) }
        if let from { items.append(("from", from.pythonISOFormat)) }
        if let to { items.append(("to", to.pythonISOFormat)) }
        return items
    }

    /// True when only SQL can decide a match (the live feed's events carry no metadata).
    public var searchesMetadata: Bool { !metadata.isEmpty || text != nil || decision == "error" }

    /// The WHERE clause (empty when nothing is filtered) and its parameters.
    public func sql() -> (clause: String, params: [String?]) {
        var conditions: [String] = [], params: [String?] = []
        func param(_ value: String) -> String {
            params.append(value)
            return "$\(params.count)"
        }
        if let workflow { conditions.append("workflow = \(param(workflow))") }
        if let workflows { conditions.append("workflow = ANY(\(param(PGArray.text(workflows)))::text[])") }
        if let agent { conditions.append("agent_id = \(param(agent))") }
        if let kind {
            if kind.hasSuffix("*") {
                let prefix = kind.dropLast().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_")
                conditions.append("kind LIKE \(param(prefix + "%"))")
            } else {
                conditions.append("kind = \(param(kind))")
            }
        }
        switch decision {
        case "none": conditions.append("decision IS NULL")
        case "error": conditions.append(#"metadata_json @> '{"otel":{"status":{"code":2}}}'"#)
        case let d?: conditions.append("decision = \(param(d))")
        case nil: break
        }
        if let model { conditions.append("model = \(param(model))") }
        if let session { conditions.append("session_id = \(param(session.lowercasedString))::uuid") }
        // Metadata conditions are decided by jsonb operators; the words index
        // (`AuditSchema.metadataWordsIndex`) narrows the rows they look at first.
        for condition in metadata {
            let words = condition.path + (condition.value.map { [$0] } ?? [])
            let indexed = words.filter { $0.contains { $0.isLetter || $0.isNumber } }
            if !indexed.isEmpty {
                let query = indexed.map { "plainto_tsquery('simple', \(param($0)))" }.joined(separator: " && ")
                conditions.append("\(AuditSchema.metadataWords) @@ (\(query))")
            }
            if let value = condition.value {
                let candidates = Self.containment(path: condition.path, value: value)
                conditions.append("(" + candidates.map { "metadata_json @> \(param($0))::jsonb" }.joined(separator: " OR ") + ")")
            } else {
                conditions.append("metadata_json @? \(param(Self.jsonPath(condition.path)))::jsonpath")
            }
        }
        if let text { conditions.append("\(AuditSchema.metadataWords) @@ websearch_to_tsquery('simple', \(param(text)))") }
        if let from { conditions.append("created_at >= \(param(from.pythonISOFormat))::timestamptz") }
        if let to { conditions.append("created_at < \(param(to.pythonISOFormat))::timestamptz") }
        for (cursor, op) in [(before, "<"), (after, ">")] {
            guard let cursor else { continue }
            let time = param(Timestamp(microseconds: cursor.micros).pythonISOFormat), id = param(cursor.id.lowercasedString)
            conditions.append("(created_at, event_id) \(op) (\(time)::timestamptz, \(id)::uuid)")
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), params)
    }

    /// `{"a":{"b":value}}` documents whose containment means "the value at a.b is `value`": the
    /// string, and also the JSON number, boolean or null it may spell.
    static func containment(path: [String], value: String) -> [String] {
        var leaves: [JSONValue] = [.string(value)]
        if let literal = try? JSONParser.parse(value, maxDepth: 1) {
            switch literal {
            case .number, .bool, .null: leaves.append(literal)
            default: break
            }
        }
        return leaves.map { leaf in path.reversed().reduce(leaf) { inner, key in .object([.init(key, inner)]) }.serialized() }
    }

    /// `$."a"."b"`: a SQL/JSON path naming each key literally (JSON string escapes), whatever characters it has.
    static func jsonPath(_ path: [String]) -> String {
        "$" + path.map { "." + JSONValue.string($0).serialized() }.joined()
    }
}
