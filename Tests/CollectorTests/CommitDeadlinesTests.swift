@testable import Exporters
import GovernanceTesting
import Pipeline
import Testing

@Suite("commit deadlines: one task answers every overdue commit")
struct CommitDeadlinesTests {
    @Test("a request still waiting at commit_timeout is answered 503; the deadline is on the test's clock")
    func overdue() async throws {
        let clock = TestClock()
        let deadlines = makeCommitDeadlines(clock: clock, timeout: .seconds(10), reason: "not committed within commit_timeout")
        let runner = Task { await deadlines.run() }
        defer { runner.cancel() }
        let request = Self.request(armedOn: deadlines)
        while clock.sleeperCount == 0 { await Task.yield() }  // the task sleeps until this request's deadline
        clock.advance(by: .seconds(10))
        #expect(Self.reason(await request.value) == "not committed within commit_timeout")
    }

    @Test("when the exporter stops, a request whose writer never answered is answered 503, not left waiting")
    func stopped() async throws {
        let clock = TestClock()
        let deadlines = makeCommitDeadlines(clock: clock, timeout: .seconds(10), reason: "not committed within commit_timeout")
        let runner = Task { await deadlines.run() }
        let request = Self.request(armedOn: deadlines)
        while clock.sleeperCount == 0 { await Task.yield() }
        runner.cancel()
        #expect(Self.reason(await request.value)?.hasPrefix("the collector stopped before PostgreSQL committed") == true)
    }

    /// A commit request that nothing but `deadlines` will answer.
    private static func request(armedOn deadlines: any CommitDeadlines) -> Task<Result<[CommitResult], PipelineUnavailable>, Never> {
        Task { await withCheckedContinuation { deadlines.arm(AnswerOnce($0)) } }
    }

    private static func reason(_ result: Result<[CommitResult], PipelineUnavailable>) -> String? {
        if case .failure(let unavailable) = result { return unavailable.reason }
        return nil
    }
}
