import AuditStore
import Foundation
import Pipeline
import Testing
@testable import Timeline

@Suite("the timeline's time axis and session tree")
struct TimeAxisTests {
    static func micros(_ iso: String) -> Int64 { Timestamp(iso8601: iso)!.microseconds }

    @Test("a page spanning a week is labelled with dates on day boundaries (the issue's 2026-11-24 to 2026-12-01 page)")
    func weekSpan() {
        let ticks = TimeAxis.ticks(min: Self.micros("2026-11-24T12:00:00Z"), max: Self.micros("2026-12-01T07:39:00Z"))
        #expect(ticks.map(\.label) == ["2026-11-25", "2026-11-27", "2026-11-29", "2026-12-01"])
        #expect(
            TimeAxis.caption(min: Self.micros("2026-11-24T12:00:00Z"), max: Self.micros("2026-12-01T07:39:00Z")) == "2026-11-24 – 2026-12-01 (UTC)")
    }

    @Test("across midnight the labels carry the date; within a day only the time; short ranges show seconds")
    func labels() {
        let overnight = TimeAxis.ticks(min: Self.micros("2026-11-24T21:10:00Z"), max: Self.micros("2026-11-25T02:50:00Z"))
        #expect(overnight.map(\.label) == ["11-24 22:00", "11-24 23:00", "11-25 00:00", "11-25 01:00", "11-25 02:00"])
        let morning = TimeAxis.ticks(min: Self.micros("2026-11-24T09:03:00Z"), max: Self.micros("2026-11-24T09:58:00Z"))
        #expect(morning.map(\.label) == ["09:10", "09:20", "09:30", "09:40", "09:50"])
        let burst = TimeAxis.ticks(min: Self.micros("2026-11-24T09:00:01.5Z"), max: Self.micros("2026-11-24T09:00:09Z"))
        #expect(burst.map(\.label) == ["09:00:02", "09:00:04", "09:00:06", "09:00:08"])
        #expect(TimeAxis.caption(min: Self.micros("2026-11-24T09:00:01Z"), max: Self.micros("2026-11-24T09:00:09Z")) == "2026-11-24 (UTC)")
    }

    @Test("ticks are round, inside the range, never more than six, for spans from a second to a year")
    func bounds() {
        let start = Self.micros("2026-03-07T13:17:29.25Z")
        var span: Int64 = 1_100_000
        while span < 400 * TimeAxis.day {
            let ticks = TimeAxis.ticks(min: start, max: start + span)
            let step = TimeAxis.step(min: start, max: start + span)
            #expect(ticks.count <= TimeAxis.maxTicks && !ticks.isEmpty, "span \(span)")
            #expect(ticks.allSatisfy { $0.micros >= start && $0.micros <= start + span && $0.micros % step == 0 }, "span \(span)")
            span = span * 3 / 2
        }
        #expect(TimeAxis.ticks(min: start, max: start).isEmpty)
    }

    @Test("a session's events form the parent_event_id tree: children under parents in commit order, orphans and cycles at the top")
    func sessionTree() {
        let session = UUID()
        func event(_ id: UUID, parent: UUID?) -> EventQueries.SessionEvent {
            EventQueries.SessionEvent(
                event: AuditEvent(
                    eventID: id, sessionID: session, agentID: "a", kind: "tool.call", parentEventID: parent,
                    createdAt: Timestamp(microseconds: 1), workflow: "wf"), chainSeq: 1)
        }
        let (root, child, grandchild, second, orphan, loopA, loopB) = (UUID(), UUID(), UUID(), UUID(), UUID(), UUID(), UUID())
        let events = [
            event(root, parent: nil), event(child, parent: root), event(second, parent: nil), event(grandchild, parent: child),
            event(orphan, parent: UUID()), event(loopA, parent: loopB), event(loopB, parent: loopA),
        ]
        let page = TimelineView.session(id: session, events: events, total: events.count)
        let rows = page.events.map { ($0.id, $0.depth) }
        #expect(rows.map(\.0) == [root, child, grandchild, second, orphan, loopA, loopB].map(\.lowercasedString))
        #expect(rows.map(\.1) == [0, 1, 2, 0, 0, 0, 1])
    }
}
