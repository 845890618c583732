import Pipeline
import Testing

@Suite("in-flight budget")
struct InFlightBudgetTests {
    static let mib = 1 << 20
    /// Body bytes whose cost is `mib` MiB.
    static func body(mib: Int) -> Int { mib * Self.mib / InFlightBudget.bytesPerBodyByte }

    @Test("a large body is admitted alone whatever its size; a second waits; released, the budget is whole again")
    func largeAlone() throws {
        let budget = InFlightBudget(limit: 64 * Self.mib)
        let huge = try #require(budget.reserve(forBody: Self.body(mib: 128)))
        #expect(budget.reserve(forBody: Self.body(mib: 16)) == nil)
        huge.release()
        #expect(budget.reserved == 0)
        let a = try #require(budget.reserve(forBody: Self.body(mib: 24)))
        let b = try #require(budget.reserve(forBody: Self.body(mib: 24)))
        #expect(budget.reserve(forBody: Self.body(mib: 24)) == nil, "large requests share three quarters: 48 of 48 MiB used")
        _ = (a, b)
    }

    @Test("small requests keep a quarter that large ones cannot take")
    func smallKeepAQuarter() throws {
        let budget = InFlightBudget(limit: 64 * Self.mib)
        let large = try #require(budget.reserve(forBody: Self.body(mib: 64)))
        var small: [InFlightBudget.Reservation] = []
        for _ in 0..<2 { small.append(try #require(budget.reserve(forBody: Self.body(mib: 8)))) }
        #expect(budget.reserve(forBody: Self.body(mib: 8)) == nil, "the quarter (16 MiB) is spent and the large request holds the rest")
        #expect(budget.reserved == 80 * Self.mib)
        large.release()
        small.append(try #require(budget.reserve(forBody: Self.body(mib: 8))))
        #expect(budget.reserved == 24 * Self.mib)
    }

    @Test("growing a reservation must fit; shrinking and freeing return what it held")
    func resize() throws {
        let budget = InFlightBudget(limit: 16 * Self.mib)
        let a = try #require(budget.reserve(forBody: Self.body(mib: 8)))
        let b = try #require(budget.reserve(forBody: Self.body(mib: 4)))
        #expect(!a.resize(forBody: Self.body(mib: 16)), "growing must fit beside the other request")
        #expect(b.resize(forBody: Self.body(mib: 8)))
        #expect(budget.reserved == 16 * Self.mib)
        #expect(b.resize(forBody: Self.body(mib: 1)))
        #expect(budget.reserved == 9 * Self.mib)
        a.release()
        a.release()
        #expect(budget.reserved == 1 * Self.mib)
        _ = b
    }
}
