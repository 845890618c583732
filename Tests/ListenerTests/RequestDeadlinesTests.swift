import HTTPTypes
@testable import Listeners
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Pipeline
import Testing

/// The header, body and idle deadlines of every HTTP listener, on an `EmbeddedEventLoop` whose
/// clock the test moves: each deadline is checked a moment before and a moment after it passes,
/// without waiting for it. (HardeningTests check the same limits against real slow clients.)
@Suite("request deadlines")
struct RequestDeadlinesTests {
    static func connection(_ configure: (inout ListenerLimits) -> Void = { _ in }) throws -> (EmbeddedEventLoop, EmbeddedChannel) {
        var limits = ListenerLimits()
        configure(&limits)
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: RequestDeadlines(limits: limits, metrics: ListenerMetrics(.disabled, listener: "test")), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (loop, channel)
    }

    static let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: "/api/v1/ingest/events"))

    @Test("a connection that sends no header is closed at read_header_timeout")
    func header() throws {
        let (loop, channel) = try Self.connection { $0.readHeaderTimeout = 10 }
        loop.advanceTime(by: .milliseconds(9_900))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(200))
        #expect(!channel.isActive)
    }

    @Test("a body's deadline is read_body_timeout plus the time its bytes take at read_body_min_rate")
    func body() throws {
        let (loop, channel) = try Self.connection {
            $0.readBodyTimeout = 10
            $0.readBodyMinRate = 1000
        }
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(repeating: 0x20, count: 5000)))
        loop.advanceTime(by: .milliseconds(14_900))
        #expect(channel.isActive, "5,000 bytes at 1,000 bytes/s earn 5 s beyond the 10 s")
        loop.advanceTime(by: .milliseconds(200))
        #expect(!channel.isActive)
    }

    @Test("while the server answers there is no deadline; after the answer, idle_timeout runs")
    func respondingThenIdle() throws {
        let (loop, channel) = try Self.connection { $0.idleTimeout = 60 }
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        loop.advanceTime(by: .hours(1))
        #expect(channel.isActive, "the pipeline's commit_timeout bounds the server's own work")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .created)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        loop.advanceTime(by: .milliseconds(59_900))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(200))
        #expect(!channel.isActive)
    }
}
