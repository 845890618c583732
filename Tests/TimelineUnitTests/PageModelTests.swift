import Mustache
import Testing
@testable import Timeline

@Suite("page models")
struct PageModelTests {
    /// Every stored property of `value` (as Mirror sees it) answers `child(named:)` with its own
    /// value: a field added to a repeated row type without its name in the switch would render
    /// as nothing, which this catches.
    func namesEveryField(_ value: some MustacheParent) {
        for case (let label?, let field) in Mirror(reflecting: value).children {
            // An optional field answers with what it holds, as Mustache unwraps it.
            let mirror = Mirror(reflecting: field)
            let expected: Any? = mirror.displayStyle == .optional ? mirror.children.first?.value : field
            #expect(value.child(named: label).map { "\($0)" } == expected.map { "\($0)" }, "\(type(of: value)).\(label)")
        }
        #expect(value.child(named: "no-such-field") == nil)
    }

    @Test("the repeated rows name every field for Mustache, as Mirror would")
    func rowsNameEveryField() {
        let dot = TimelinePage.Lane.Session.Dot(id: "e", x: "1.0", y: "2.0", decision: "deny", kindClass: 3, t: "7", kind: "tool.call", time: "t")
        namesEveryField(
            TimelinePage.Row(
                id: "e", time: "t", workflow: "wf", agent: "a", kind: "tool.call", kindClass: 3, decision: "allow", session: "s",
                sessionShort: "s"))
        namesEveryField(dot)
        namesEveryField(TimelinePage.Lane.Session(id: "s", y: "1", x1: "2", x2: "3", events: [dot]))
        namesEveryField(
            SessionPage.Row(
                id: "e", depth: 2, deeper: "", position: 4, chainSeq: "9", time: "t", agent: "a", kind: "k", kindClass: 1, decision: "none",
                signature: "valid", parent: "p"))
        let segment = DashboardPage.Bar.Segment(decision: "deny", y: "1", height: "2", count: 5)
        namesEveryField(segment)
        namesEveryField(DashboardPage.Bar(x: "1", width: "2", segments: [segment], title: "t", t: "3"))
        namesEveryField(AxisTick(x: "1", y: "2", label: "l", anchor: "start"))
    }
}
