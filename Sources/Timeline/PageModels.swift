import Mustache

/// What each page's template reads, as types: a renamed or missing field is a compile error, not
/// an empty spot on a page. Mustache reads these by their property names; every text an event
/// supplies is already `VisibleText.escape`d, and Mustache HTML-escapes it.
protocol PageModel: Sendable {
    /// The template in `Resources/` that renders this model.
    static var template: String { get }
}

/// A page's model and the session's CSRF token, which every form on it posts back. The
/// templates read their model inside `{{#page}}…{{/page}}`; `{{csrf}}` is found one level up.
struct PageScope<Model: PageModel>: Sendable {
    let csrf: String
    let page: Model
}

/// The layout around every page.
struct LayoutModel: Sendable {
    struct Nav: Sendable {
        var signedIn: Bool
        /// `name (role)` of the person signed in.
        var person: String?
        /// Whether the People page is theirs to see (admins).
        var people: Bool
    }
    var title: String
    /// The page, rendered by its own template.
    var body: String
    var csrf: String
    /// Where the page moves on to at once (`<meta http-equiv="refresh">`), as a navigation of this site's own.
    var refresh: String?
    /// The navigation bar, absent on the sign-in page.
    var nav: Nav?
}

struct LoginPage: PageModel {
    static let template = "login"
    var error: String?
    var notice: String?
    /// Whether the page offers a link by e-mail.
    var emailSignIn = false
    /// The OpenID Connect button's text, when the provider is configured.
    var openID: String?
}

/// The page an OpenID Connect sign-in ends on, which moves on to the timeline by itself.
struct SignedInPage: PageModel {
    static let template = "signed-in"
    var name: String
}

struct MessagePage: PageModel {
    static let template = "message"
    var title: String
    var text: String
}

/// A select's option or a link among alternatives, marked when it is the current one.
struct Choice: Sendable {
    var value: String
    var label: String
    var selected: Bool
    var url: String?
}

/// A workflow in a filter's list.
struct WorkflowChoice: Sendable {
    var name: String
    var selected: Bool
}

/// A time axis label; `y` only on the timeline's axis (the dashboard's sits in its chart).
struct AxisTick: Sendable {
    var x: String
    var y: String?
    var label: String
    var anchor: String
}

/// The result of a verify button.
struct Verdict: Sendable {
    var state: String
    var text: String
}

struct TimelinePage: PageModel {
    static let template = "timeline"

    /// A table row.
    struct Row: Sendable {
        var id, time, workflow, agent, kind: String
        var kindClass: Int
        var decision, session, sessionShort: String
    }

    /// One agent's band in the SVG, a row per session.
    struct Lane: Sendable {
        struct Session: Sendable {
            struct Dot: Sendable {
                var id, x, y, decision: String
                var kindClass: Int
                var t, kind, time: String
            }
            var id, y, x1, x2: String
            var events: [Dot]
        }
        var agent, y, height, labelY: String
        var sessions: [Session]
    }

    struct RangeLink: Sendable { var id, label, url: String }
    struct ExportLink: Sendable { var format, label, url: String }

    var events: [Row]
    var count: Int
    var empty: Bool
    var lanes: [Lane]
    var ticks: [AxisTick]
    var axisY, height, minT, maxT: String
    var workflows: [WorkflowChoice]
    var decisions: [Choice]
    /// The filter's fields as typed, to refill the form.
    var agent, kind, model, session, meta, q, from, to: String
    var caption: String
    var ranges: [RangeLink]
    var exports: [ExportLink]
    /// The next page, when there is one.
    var olderURL: String?
    /// Filter fields that could not be read, each said in a sentence.
    var problems: [String] = []
    var live = "false"
    var liveState = "off"
    var liveText = ""
    var streamURL = ""
}

struct DetailPage: PageModel {
    static let template = "detail"
    struct Field: Sendable { var name, value: String }

    var id, session: String
    var fields: [Field]
    var metadata: String
    var redacted: Bool
    var position, sessionLength: Int
    var chainSeq, prevHash, hmac, agentQuery: String
    var verify: Verdict?
}

struct SessionPage: PageModel {
    static let template = "session"
    /// An event, indented under its parent.
    struct Row: Sendable {
        var id: String
        var depth: Int
        var deeper: String
        var position: Int
        var chainSeq, time, agent, kind: String
        var kindClass: Int
        var decision, signature, parent: String
    }

    var id: String
    var count: Int
    var totalText: String
    var truncated: Bool
    var agents, first, last, timelineQuery: String
    var events: [Row]
    var verify: Verdict?
}

struct ApprovalsPage: PageModel {
    static let template = "approvals"
    struct Gate: Sendable {
        var workflow, requestID, agent, kind, actionHash, age, expiry: String
        /// Pending with under five minutes left.
        var expiresSoon: Bool
        var state: String
        var decided: String?
        var reason: String?
        /// The timeline filtered to this gate's audit events.
        var events: String
    }
    var workflow: String?
    var pending: [Gate]
    var decided: [Gate]
    var expired: [Gate]
    var notice: String?
}

struct WorkflowsPage: PageModel {
    static let template = "workflows"
    struct Workflow: Sendable { var name, query, events, lastSeen: String }
    struct Token: Sendable {
        var fingerprint, workflow, created, status: String
        var active: Bool
    }
    struct AgentKey: Sendable {
        var fingerprint, agent, activated, created, status: String
        var active: Bool
        var reason: String?
    }
    /// A token just issued: shown this once.
    struct Issued: Sendable { var workflow, token, fingerprint: String }

    var workflows: [Workflow]
    var tokens: [Token]
    var agentKeys: [AgentKey]
    var newToken: Issued?
    var error: String?
    var keyError: String?
}

struct DashboardPage: PageModel {
    static let template = "dashboard"
    struct Bar: Sendable {
        struct Segment: Sendable {
            var decision, y, height: String
            var count: Int64
        }
        var x, width: String
        var segments: [Segment]
        var title, t: String
    }
    /// An agent, kind or tool with its denials, linked to its events.
    struct Count: Sendable { var name, events, denied, rate, link: String }
    struct ModelUsage: Sendable { var service, model, calls, duration, input, output: String }
    struct Spend: Sendable { var agent, day, usd: String }
    struct Alert: Sendable { var agent, cap, day, state: String }
    struct RuleState: Sendable {
        var rule, subject, state, value, since: String
        var firing: Bool
    }
    struct Notification: Sendable { var rule, subject, transition, destination, state: String }
    struct Bridge: Sendable { var target, lastSeq, age: String }
    struct Witness: Sendable { var witness, size, attempts, error: String }
    struct Checkpoint: Sendable { var size, age: String }
    struct Verification: Sendable {
        var state: String
        var failed: Bool
    }
    struct Health: Sendable { var name, state: String }

    var window, windowLabel: String
    var windows: [Choice]
    var workflows: [WorkflowChoice]
    var windowValue: String
    var total, allow, deny, none, denialRate, perMinute, unfolded: String
    var bars: [Bar]
    var ticks: [AxisTick]
    var axisY, peak: String
    var agents, kinds, tools: [Count]
    var modelUsage: [ModelUsage]
    var spend: [Spend]
    var alerts: [Alert]
    var ruleStates: [RuleState]
    var notifications: [Notification]
    var bridges: [Bridge]
    var witnesses: [Witness]
    var checkpoint: Checkpoint?
    var verification: Verification?
    /// Approval gates waiting for a person: how many, the oldest's wait, how many expire within five minutes.
    var waitingGates, oldestGate, gatesExpiringSoon: String
    var gatesUrgent: Bool
    var health: [Health] = []
    var live = "false"
    var liveText = ""
    var streamURL = ""
    var windowStart = ""
}

// The types a page repeats (rows, dots, bars) name their fields for Mustache directly: Mirror
// would reflect the whole value at every lookup, which on a 100-row timeline page was a quarter
// of its render time (governance-bench, UI rows). The rest are read once a page; Mirror serves.

extension TimelinePage.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "time": time
        case "workflow": workflow
        case "agent": agent
        case "kind": kind
        case "kindClass": kindClass
        case "decision": decision
        case "session": session
        case "sessionShort": sessionShort
        default: nil
        }
    }
}

extension TimelinePage.Lane.Session.Dot: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "x": x
        case "y": y
        case "decision": decision
        case "kindClass": kindClass
        case "t": t
        case "kind": kind
        case "time": time
        default: nil
        }
    }
}

extension TimelinePage.Lane.Session: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "y": y
        case "x1": x1
        case "x2": x2
        case "events": events
        default: nil
        }
    }
}

extension SessionPage.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "depth": depth
        case "deeper": deeper
        case "position": position
        case "chainSeq": chainSeq
        case "time": time
        case "agent": agent
        case "kind": kind
        case "kindClass": kindClass
        case "decision": decision
        case "signature": signature
        case "parent": parent
        default: nil
        }
    }
}

extension DashboardPage.Bar: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "x": x
        case "width": width
        case "segments": segments
        case "title": title
        case "t": t
        default: nil
        }
    }
}

extension DashboardPage.Bar.Segment: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "decision": decision
        case "y": y
        case "height": height
        case "count": count
        default: nil
        }
    }
}

extension AxisTick: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "x": x
        case "y": y
        case "label": label
        case "anchor": anchor
        default: nil
        }
    }
}
