import AuditStore
import Foundation
import Pipeline

/// Turns query results into template contexts: lanes and positions for the SVG, display text
/// for the tables. Everything an event supplies goes through `VisibleText.escape` first.
enum TimelineView {
    static let left = 170.0, right = 985.0
    static let laneTop = 12.0, rowHeight = 16.0, maxRowsPerLane = 8

    static func context(events: [EventSummary], filter: TimelineFilter, workflows: [String], more: Bool) -> [String: Any] {
        let times = events.map(\.createdAt.microseconds)
        let (minT, maxT) = (times.min() ?? 0, times.max() ?? 0)
        func x(_ t: Int64) -> String {
            let v = maxT > minT ? left + (right - left) * Double(t - minT) / Double(maxT - minT) : (left + right) / 2
            return String(format: "%.1f", v)
        }
        // One lane per agent (alphabetical), one row per session in order of first event.
        var lanes: [[String: Any]] = []
        var y = 0.0
        for agent in Set(events.map(\.agent)).sorted() {
            let agentEvents = events.filter { $0.agent == agent }.sorted { $0.createdAt < $1.createdAt }
            var sessionOrder: [UUID] = []
            for e in agentEvents where !sessionOrder.contains(e.sessionID) { sessionOrder.append(e.sessionID) }
            let rows = min(sessionOrder.count, maxRowsPerLane)
            let height = laneTop + Double(rows) * rowHeight + 8
            var sessions: [[String: Any]] = []
            for (index, session) in sessionOrder.enumerated() {
                let rowY = y + laneTop + Double(index % maxRowsPerLane) * rowHeight + 8
                let own = agentEvents.filter { $0.sessionID == session }
                sessions.append([
                    "id": session.lowercasedString, "y": String(format: "%.1f", rowY),
                    "x1": x(own.first!.createdAt.microseconds), "x2": x(own.last!.createdAt.microseconds),
                    "events": own.map { e -> [String: Any] in
                        ["id": e.id.lowercasedString, "x": x(e.createdAt.microseconds), "y": String(format: "%.1f", rowY),
                         "decision": e.decision ?? "none", "kindClass": kindClass(e.kind), "t": String(e.createdAt.microseconds),
                         "kind": VisibleText.escape(e.kind), "time": displayTime(e.createdAt)]
                    },
                ])
            }
            lanes.append(["agent": VisibleText.escape(agent), "y": String(format: "%.1f", y), "height": String(format: "%.1f", height),
                          "labelY": String(format: "%.1f", y + 14), "sessions": sessions])
            y += height
        }
        let axisY = y + 18
        let ticks: [[String: Any]] = maxT > minT ? (0...4).map { i in
            let t = minT + (maxT - minT) * Int64(i) / 4
            return ["x": x(t), "y": String(format: "%.1f", axisY), "label": displayTime(Timestamp(microseconds: t), short: true),
                    "anchor": i == 0 ? "start" : i == 4 ? "end" : "middle"]
        } : []
        var context: [String: Any] = [
            "events": events.map(row),
            "count": events.count,
            "empty": events.isEmpty,
            "lanes": lanes,
            "ticks": ticks,
            "axisY": String(format: "%.1f", axisY),
            "height": String(format: "%.0f", axisY + 10),
            "minT": String(minT), "maxT": String(maxT),
            "workflows": workflows.map { ["name": VisibleText.escape($0), "selected": $0 == filter.workflow] },
            "decisions": [("", "any"), ("allow", "allow"), ("deny", "deny"), ("none", "none")].map {
                ["value": $0.0, "label": $0.1, "selected": $0.0 == (filter.decision ?? "")]
            },
            "agent": filter.agent ?? "", "kind": filter.kind ?? "",
            "from": filter.from?.pythonISOFormat ?? "", "to": filter.to?.pythonISOFormat ?? "",
        ]
        if more, let last = events.last {
            context["olderURL"] = "/timeline?" + FormData.encode(filter.queryItems + [("before", last.cursor)])
        }
        return context
    }

    static func row(_ e: EventSummary) -> [String: Any] {
        ["id": e.id.lowercasedString, "time": displayTime(e.createdAt), "workflow": VisibleText.escape(e.workflow),
         "agent": VisibleText.escape(e.agent), "kind": VisibleText.escape(e.kind), "kindClass": kindClass(e.kind),
         "decision": e.decision ?? "none", "session": e.sessionID.lowercasedString,
         "sessionShort": String(e.sessionID.lowercasedString.prefix(8))]
    }

    /// A live event as the script receives it (JSON; the script sets it as text, never HTML).
    static func json(_ e: EventSummary) -> String {
        JSONValue.object([
            .init("id", .string(e.id.lowercasedString)), .init("session", .string(e.sessionID.lowercasedString)),
            .init("agent", .string(VisibleText.escape(e.agent))), .init("kind", .string(VisibleText.escape(e.kind))),
            .init("workflow", .string(VisibleText.escape(e.workflow))), .init("decision", .string(e.decision ?? "none")),
            .init("time", .string(displayTime(e.createdAt))), .init("t", .number(String(e.createdAt.microseconds))),
        ]).serialized()
    }

    static func detail(_ d: EventQueries.Detail, raw: Bool) -> [String: Any] {
        let e = d.event
        var fields: [(String, String?)] = [
            ("event_id", e.eventID.lowercasedString), ("session_id", e.sessionID.lowercasedString), ("workflow", e.workflow),
            ("agent_id", e.agentID), ("kind", e.kind), ("decision", e.decision?.rawValue ?? "none"),
            ("created_at", e.createdAt.pythonISOFormat), ("received_at", d.receivedAt), ("seq", e.seq.map(String.init)),
            ("parent_event_id", e.parentEventID?.lowercasedString), ("model", e.model), ("input_hash", e.inputHash),
            ("output_hash", e.outputHash), ("sdk_version", e.sdkVersion), ("signature_status", e.signatureStatus),
            ("signing_key_fingerprint", e.signingKeyFingerprint),
        ]
        // signature_status is the collector's verdict; a client claiming otherwise is shown beside it.
        if let claim = e.clientSignatureStatus {
            fields.insert(("client_signature_status", claim), at: fields.firstIndex { $0.0 == "signature_status" }! + 1)
        }
        let metadata = raw ? e.metadata : Redactor().redact(e.metadata).0
        return [
            "id": e.eventID.lowercasedString, "session": e.sessionID.lowercasedString,
            "fields": fields.map { ["name": $0.0, "value": VisibleText.escape($0.1 ?? "—")] },
            "metadata": VisibleText.escape(pretty(metadata)), "redacted": !raw,
            "position": d.positionInSession, "sessionLength": d.sessionLength, "chainSeq": String(d.chainSeq),
            "prevHash": e.prevHash ?? "— (first in its session)", "hmac": e.hmac ?? "—",
            "agentQuery": FormData.encode([("", e.agentID)]).dropFirst(),
        ]
    }

    static func workflows(_ stats: [EventQueries.WorkflowStats], tokens: [PostgresTokenStore.Token]) -> [String: Any] {
        [
            "workflows": stats.map { s -> [String: Any] in
                ["name": VisibleText.escape(s.name), "query": FormData.encode([("", s.name)]).dropFirst(), "events": String(s.events),
                 "lastSeen": s.lastSeen.map { String($0.prefix(19)) } ?? "never"]
            },
            "tokens": tokens.map { t -> [String: Any] in
                ["fingerprint": t.fingerprint, "workflow": VisibleText.escape(t.workflow), "created": displayTime(t.createdAt),
                 "status": t.revokedAt == nil ? "active" : "revoked", "active": t.revokedAt == nil]
            },
        ]
    }

    /// `2026-11-25 04:30:00.123` (UTC); `short` drops the date.
    static func displayTime(_ t: Timestamp, short: Bool = false) -> String {
        var iso = t.pythonISOFormat.replacingOccurrences(of: "+00:00", with: "")
        if let dot = iso.firstIndex(of: ".") { iso = String(iso[..<iso.index(dot, offsetBy: 4, limitedBy: iso.endIndex)!]) }
        iso = iso.replacingOccurrences(of: "T", with: " ")
        return short ? String(iso.dropFirst(11)) : iso
    }

    /// The colour class of a kind's family (its first dot-segment), stable across pages and the script.
    static func kindClass(_ kind: String) -> Int {
        let family = kind.split(separator: ".", omittingEmptySubsequences: false).first ?? ""
        var h: UInt32 = 0
        for unit in family.utf16 { h = h &* 31 &+ UInt32(unit) }
        return Int(h % 8)
    }

    /// Indented JSON for reading.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .object(let members) where !members.isEmpty:
            return "{\n" + members.map { member in
                var key: [UInt8] = []
                JSONValue.writeString(member.key, into: &key, asciiOnly: false)
                return inner + String(decoding: key, as: UTF8.self) + ": " + pretty(member.value, indent: inner)
            }.joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        default:
            return value.serialized()
        }
    }
}

/// Client-supplied text made visible: control characters, bidirectional overrides and other
/// invisible format characters are shown as `\u{…}` escapes, so a value cannot hide or reorder
/// what is around it. (HTML escaping is the template's job.)
enum VisibleText {
    static func escape(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
                if scalar == "\n" || scalar == "\t" { out.unicodeScalars.append(scalar) } else { out += "\\u{\(String(scalar.value, radix: 16))}" }
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
