import AuditStore
import Foundation
import Pipeline

/// Turns query results into page models: lanes and positions for the SVG, display text
/// for the tables. Everything an event supplies goes through `VisibleText.escape` first.
enum TimelineView {
    static let left = 170.0, right = 985.0
    static let laneTop = 12.0, rowHeight = 16.0, maxRowsPerLane = 8

    static func page(events: [EventSummary], filter: EventFilter, workflows: [String], more: Bool, now: Timestamp) -> TimelinePage {
        let times = events.map(\.createdAt.microseconds)
        let (minT, maxT) = (times.min() ?? 0, times.max() ?? 0)
        func x(_ t: Int64) -> String {
            let v = maxT > minT ? left + (right - left) * Double(t - minT) / Double(maxT - minT) : (left + right) / 2
            return String(format: "%.1f", v)
        }
        // One lane per agent (alphabetical), one row per session in order of first event.
        var lanes: [TimelinePage.Lane] = []
        var y = 0.0
        for agent in Set(events.map(\.agent)).sorted() {
            let agentEvents = events.filter { $0.agent == agent }.sorted { $0.createdAt < $1.createdAt }
            var sessionOrder: [UUID] = []
            for e in agentEvents where !sessionOrder.contains(e.sessionID) { sessionOrder.append(e.sessionID) }
            let rows = min(sessionOrder.count, maxRowsPerLane)
            let height = laneTop + Double(rows) * rowHeight + 8
            var sessions: [TimelinePage.Lane.Session] = []
            for (index, session) in sessionOrder.enumerated() {
                let rowY = y + laneTop + Double(index % maxRowsPerLane) * rowHeight + 8
                let own = agentEvents.filter { $0.sessionID == session }
                sessions.append(
                    .init(
                        id: session.lowercasedString, y: String(format: "%.1f", rowY),
                        x1: x(own.first!.createdAt.microseconds), x2: x(own.last!.createdAt.microseconds),
                        events: own.map { e in
                            .init(
                                id: e.id.lowercasedString, x: x(e.createdAt.microseconds), y: String(format: "%.1f", rowY),
                                decision: e.decision ?? "none", kindClass: kindClass(e.kind), t: String(e.createdAt.microseconds),
                                kind: VisibleText.escape(e.kind), time: displayTime(e.createdAt))
                        }))
            }
            lanes.append(
                .init(
                    agent: VisibleText.escape(agent), y: String(format: "%.1f", y), height: String(format: "%.1f", height),
                    labelY: String(format: "%.1f", y + 14), sessions: sessions))
            y += height
        }
        let axisY = y + 18
        let ticks = TimeAxis.ticks(min: minT, max: maxT).map { tick in
            let position = Double(x(tick.micros)) ?? left
            return AxisTick(
                x: x(tick.micros), y: String(format: "%.1f", axisY), label: tick.label,
                anchor: position < left + 30 ? "start" : position > right - 30 ? "end" : "middle")
        }
        return TimelinePage(
            events: events.map(row),
            count: events.count,
            empty: events.isEmpty,
            lanes: lanes,
            ticks: ticks,
            axisY: String(format: "%.1f", axisY),
            height: String(format: "%.0f", axisY + 10),
            minT: String(minT), maxT: String(maxT),
            workflows: workflows.map { WorkflowChoice(name: VisibleText.escape($0), selected: $0 == filter.workflow) },
            decisions: [("", "any"), ("allow", "allow"), ("deny", "deny"), ("none", "none"), ("error", "error (failed call)")].map {
                Choice(value: $0.0, label: $0.1, selected: $0.0 == (filter.decision ?? ""))
            },
            agent: filter.agent ?? "", kind: filter.kind ?? "", model: filter.model ?? "",
            session: filter.session?.lowercasedString ?? "", meta: filter.metadata.first?.text ?? "", q: filter.text ?? "",
            from: filter.from?.pythonISOFormat ?? "", to: filter.to?.pythonISOFormat ?? "",
            caption: maxT > minT ? TimeAxis.caption(min: minT, max: maxT) : "",
            ranges: ranges(filter, now: now, pageSpan: maxT > minT ? (minT, maxT) : nil),
            exports: EventExport.Format.allCases.map { format in
                .init(
                    format: format.rawValue, label: format == .csv ? "CSV" : "NDJSON",
                    url: "/export?" + queryString([("format", format.rawValue)] + filter.queryItems))
            },
            olderURL: more ? events.last.map { "/timeline?" + queryString(filter.queryItems + [("before", $0.cursor)]) } : nil)
    }

    /// The zoom: the last 15 minutes, hour, day or week (open-ended, so live), and the page's own
    /// span halved, each a link that sets `from` and `to` and keeps every other filter.
    static func ranges(_ filter: EventFilter, now: Timestamp, pageSpan: (Int64, Int64)?) -> [TimelinePage.RangeLink] {
        var base = filter
        (base.from, base.to, base.before) = (nil, nil, nil)
        func link(_ id: String, _ label: String, from: Int64, to: Int64?) -> TimelinePage.RangeLink {
            var f = base
            f.from = Timestamp(microseconds: from)
            f.to = to.map(Timestamp.init(microseconds:))
            return .init(id: id, label: label, url: "/timeline?" + queryString(f.queryItems))
        }
        let n = now.microseconds
        var links = [
            link("last-15m", "last 15 min", from: n - 15 * TimeAxis.minute, to: nil),
            link("last-1h", "last hour", from: n - TimeAxis.hour, to: nil),
            link("last-1d", "last day", from: n - TimeAxis.day, to: nil),
            link("last-7d", "last 7 days", from: n - 7 * TimeAxis.day, to: nil),
        ]
        if let (lo, hi) = pageSpan {
            let mid = lo + (hi - lo) / 2
            links.append(link("zoom-earlier", "earlier half of this page", from: lo, to: mid))
            links.append(link("zoom-later", "later half of this page", from: mid, to: hi + 1))
        }
        return links
    }

    static func row(_ e: EventSummary) -> TimelinePage.Row {
        .init(
            id: e.id.lowercasedString, time: displayTime(e.createdAt), workflow: VisibleText.escape(e.workflow),
            agent: VisibleText.escape(e.agent), kind: VisibleText.escape(e.kind), kindClass: kindClass(e.kind),
            decision: e.decision ?? "none", session: e.sessionID.lowercasedString,
            sessionShort: String(e.sessionID.lowercasedString.prefix(8)))
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

    static func detail(_ d: EventQueries.Detail, raw: Bool, redactor: Redactor) -> DetailPage {
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
        let metadata = raw ? e.metadata : redactor.redact(e.metadata).0
        return DetailPage(
            id: e.eventID.lowercasedString, session: e.sessionID.lowercasedString,
            fields: fields.map { .init(name: $0.0, value: VisibleText.escape($0.1 ?? "—")) },
            metadata: VisibleText.escape(pretty(metadata)), redacted: !raw,
            position: d.positionInSession, sessionLength: d.sessionLength, chainSeq: String(d.chainSeq),
            prevHash: e.prevHash ?? "— (first in its session)", hmac: e.hmac ?? "—",
            agentQuery: queryValue(e.agentID))
    }

    /// A session's events as a tree by `parent_event_id`: each event under its parent (a parent
    /// outside the session, or missing, makes a root), siblings in commit order; `depth` indents.
    static func session(id: UUID, events: [EventQueries.SessionEvent], total: Int) -> SessionPage {
        let present = Set(events.map(\.event.eventID))
        var children: [UUID: [Int]] = [:], roots: [Int] = []
        for (index, e) in events.enumerated() {
            if let parent = e.event.parentEventID, present.contains(parent), parent != e.event.eventID {
                children[parent, default: []].append(index)
            } else {
                roots.append(index)
            }
        }
        var ordered: [(index: Int, depth: Int)] = [], visited = Set<Int>()
        func visit(_ index: Int, depth: Int) {
            guard visited.insert(index).inserted else { return }
            ordered.append((index, depth))
            for child in children[events[index].event.eventID] ?? [] { visit(child, depth: depth + 1) }
        }
        for root in roots { visit(root, depth: 0) }
        // A parent cycle has no root; its events are listed at the top level rather than dropped.
        for index in events.indices where !visited.contains(index) { visit(index, depth: 0) }
        let agents = Set(events.map(\.event.agentID)).sorted()
        return SessionPage(
            id: id.lowercasedString, count: events.count, totalText: total == 1 ? "1 event" : "\(total) events",
            truncated: total > events.count,
            agents: agents.map(VisibleText.escape).joined(separator: ", "),
            first: displayTime(events.map(\.event.createdAt).min()!), last: displayTime(events.map(\.event.createdAt).max()!),
            timelineQuery: queryString([("session", id.lowercasedString)]),
            events: ordered.map { item in
                let e = events[item.index].event
                return .init(
                    id: e.eventID.lowercasedString, depth: min(item.depth, 8), deeper: item.depth > 8 ? "+\(item.depth - 8) " : "",
                    position: item.index + 1, chainSeq: String(events[item.index].chainSeq), time: displayTime(e.createdAt),
                    agent: VisibleText.escape(e.agentID), kind: VisibleText.escape(e.kind), kindClass: kindClass(e.kind),
                    decision: e.decision?.rawValue ?? "none", signature: VisibleText.escape(e.signatureStatus),
                    parent: e.parentEventID?.lowercasedString ?? "")
            })
    }

    static func workflows(_ stats: [EventQueries.WorkflowStats], tokens: [PostgresTokenStore.Token], agentKeys: [AgentKeyTable.Listed])
        -> WorkflowsPage
    {
        WorkflowsPage(
            workflows: stats.map { s in
                .init(
                    name: VisibleText.escape(s.name), query: queryValue(s.name), events: String(s.events),
                    lastSeen: s.lastSeen.map { String($0.prefix(19)) } ?? "never")
            },
            tokens: tokens.map { t in
                .init(
                    fingerprint: t.fingerprint, workflow: VisibleText.escape(t.workflow), created: displayTime(t.createdAt),
                    status: t.revokedAt == nil ? "active" : "revoked", active: t.revokedAt == nil)
            },
            agentKeys: agentKeys.map { k in
                .init(
                    fingerprint: k.fingerprint, agent: VisibleText.escape(k.agentID ?? "(not registered here)"),
                    activated: k.activatedAtChainSeq ?? "", created: k.createdAt.map { String($0.prefix(19)) } ?? "",
                    status: k.revokedAtChainSeq == nil ? "active" : "revoked", active: k.revokedAtChainSeq == nil,
                    reason: k.reason.flatMap { $0.isEmpty ? nil : VisibleText.escape($0) })
            })
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
            return "{\n"
                + members.map { member in
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

/// The dashboard's page model: tiles, the stacked bar chart (SVG, no script needed), the
/// top lists and the operations tables.
enum DashboardView {
    static let chartLeft = 40.0, chartRight = 990.0, chartTop = 10.0, chartBottom = 150.0

    static func page(_ d: DashboardData, workflow: String?, workflows: [String], now: Timestamp) -> DashboardPage {
        let step = Int64(d.window.width.seconds) * 1_000_000
        let buckets = Array(stride(from: d.from, through: now.microseconds, by: Int(step)))
        let peak = max(Int64(1), buckets.map { d.series[$0]?.values.reduce(0, +) ?? 0 }.max() ?? 1)
        let slot = (chartRight - chartLeft) / Double(max(1, buckets.count))
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        let bars = buckets.enumerated().map { index, bucket in
            var y = chartBottom
            var segments: [DashboardPage.Bar.Segment] = []
            for decision in ["deny", "allow", "none"] {
                let n = d.series[bucket]?[decision] ?? 0
                guard n > 0 else { continue }
                let height = (chartBottom - chartTop) * Double(n) / Double(peak)
                y -= height
                segments.append(.init(decision: decision, y: f(y), height: f(height), count: n))
            }
            let total = d.series[bucket]?.values.reduce(0, +) ?? 0
            return DashboardPage.Bar(
                x: f(chartLeft + Double(index) * slot + 0.5), width: f(max(1, slot - 1)), segments: segments,
                title: "\(TimelineView.displayTime(Timestamp(microseconds: bucket))): \(total) events", t: String(bucket))
        }
        let end = d.from + step * Int64(buckets.count)
        let ticks = TimeAxis.ticks(min: d.from, max: end).map { tick in
            let x = chartLeft + (chartRight - chartLeft) * Double(tick.micros - d.from) / Double(max(1, end - d.from))
            return AxisTick(x: f(x), label: tick.label, anchor: x > chartRight - 30 ? "end" : x < chartLeft + 30 ? "start" : "middle")
        }
        /// Each row linked to its events: `query` is the timeline filter (`agent=`, `kind=`), `value` its value.
        func counts(_ list: [DashboardData.Count], query: String, value: (String) -> String = { $0 }) -> [DashboardPage.Count] {
            list.map { c in
                .init(
                    name: VisibleText.escape(c.name), events: String(c.events), denied: String(c.denied),
                    rate: percent(c.denied, of: c.events),
                    link: "/timeline?" + queryString((workflow.map { [("workflow", $0)] } ?? []) + [(query, value(c.name))]))
            }
        }
        let total = d.total
        return DashboardPage(
            window: d.window.rawValue, windowLabel: d.window.label,
            windows: DashboardWindow.allCases.map { w in
                Choice(
                    value: w.rawValue, label: w.label, selected: w == d.window,
                    url: "/?" + queryString([("window", w.rawValue)] + (workflow.map { [("workflow", $0)] } ?? [])))
            },
            workflows: workflows.map { WorkflowChoice(name: VisibleText.escape($0), selected: $0 == workflow) },
            windowValue: d.window.rawValue,
            total: String(total), allow: String(d.byDecision["allow"] ?? 0), deny: String(d.byDecision["deny"] ?? 0),
            none: String(d.byDecision["none"] ?? 0), denialRate: percent(d.byDecision["deny"] ?? 0, of: total),
            perMinute: String(format: "%.1f", Double(total) / (Double(d.window.seconds) / 60)),
            unfolded: String(d.unfolded),
            bars: bars, ticks: ticks, axisY: f(chartBottom + 14), peak: String(peak),
            agents: counts(d.agents, query: "agent"), kinds: counts(d.kinds, query: "kind"),
            tools: counts(d.tools, query: "meta", value: { "tool=" + $0 }),
            modelUsage: d.modelUsage.map { u in
                .init(
                    service: VisibleText.escape(u.service), model: VisibleText.escape(u.model.isEmpty ? "—" : u.model),
                    calls: String(u.operations), duration: u.operations == 0 ? "—" : String(format: "%.3f s", u.seconds / Double(u.operations)),
                    input: String(format: "%.0f", u.inputTokens), output: String(format: "%.0f", u.outputTokens))
            },
            spend: d.spend.map { .init(agent: VisibleText.escape($0.agentID), day: $0.day, usd: $0.usd) },
            alerts: d.alerts.map {
                .init(
                    agent: VisibleText.escape($0.agentID), cap: VisibleText.escape($0.capID), day: $0.day,
                    state: $0.delivered ? "delivered" : "pending")
            },
            ruleStates: d.ruleStates.map {
                .init(
                    rule: VisibleText.escape($0.rule), subject: VisibleText.escape($0.subject.isEmpty ? "—" : $0.subject),
                    state: $0.firing ? "firing" : "resolved", value: String(format: "%g", $0.value), since: age($0.changedSecondsAgo),
                    firing: $0.firing)
            },
            notifications: d.notifications.map {
                .init(
                    rule: VisibleText.escape($0.rule), subject: VisibleText.escape($0.subject.isEmpty ? "—" : $0.subject), transition: $0.transition,
                    destination: VisibleText.escape($0.destination),
                    state: $0.delivered
                        ? "delivered" : "\($0.attempts) failed attempts, last error \(VisibleText.escape($0.lastError ?? "—"))")
            },
            bridges: d.bridges.map { .init(target: VisibleText.escape($0.target), lastSeq: $0.lastSeq, age: age($0.ageSeconds)) },
            witnesses: d.witnesses.map {
                .init(
                    witness: VisibleText.escape($0.witness), size: $0.deliveredSize, attempts: $0.attempts,
                    error: VisibleText.escape($0.lastError ?? "—"))
            },
            checkpoint: d.checkpoint.map { .init(size: String($0.size), age: age($0.ageSeconds)) },
            verification: d.verification.map { v in
                let progress =
                    "\(v.rowsChecked) rows checked, tree matches the signed checkpoint at size \(v.checkedSize), last step \(age(v.updatedSecondsAgo))"
                guard let failure = v.failure else { return .init(state: progress, failed: false) }
                return .init(state: "FAILED \(age(v.failedSecondsAgo ?? 0)): \(VisibleText.escape(failure))", failed: true)
            },
            waitingGates: String(d.waitingGates?.count ?? 0),
            oldestGate: (d.waitingGates?.count ?? 0) == 0 ? "—" : age(Double(d.waitingGates?.oldestSeconds ?? 0)),
            gatesExpiringSoon: String(d.waitingGates?.expiringSoon ?? 0), gatesUrgent: (d.waitingGates?.expiringSoon ?? 0) > 0)
    }

    static func percent(_ part: Int64, of whole: Int64) -> String {
        whole == 0 ? "—" : String(format: "%.1f%%", 100 * Double(part) / Double(whole))
    }

    static func age(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds)) s ago" : seconds < 7200 ? "\(Int(seconds / 60)) min ago" : "\(Int(seconds / 3600)) h ago"
    }
}
