import NIOCore
import NIOHTTPTypes

/// Closes an HTTP/1.1 connection whose client is too slow or too idle (`ListenerLimits`).
/// It sits after the HTTP decoder and follows each connection through its phases: waiting for
/// a request header (from the connection's start, or from the first bytes of the next
/// keep-alive request, which show as a read that produced no request part), reading a body
/// (deadline grows with the bytes received), answering (no deadline: the server's own work is
/// bounded by the pipeline's commit timeout) and idle between requests. One timer per
/// connection, re-armed only when a deadline moves earlier. Time is the event loop's (`now`), so
/// a test drives it with an `EmbeddedEventLoop`.
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Phase: String { case header, body, responding, idle }

    private let limits: ListenerLimits
    private let metrics: ListenerMetrics
    private var phase = Phase.header
    private var deadline = NIODeadline.distantFuture
    private var bodyStart = NIODeadline.uptimeNanoseconds(0)
    private var bodyBytes = 0
    /// Requests whose head arrived and whose response has not ended (HTTP/1.1 pipelining).
    private var unanswered = 0
    private var readingBody = false
    private var timer: (at: NIODeadline, task: Scheduled<Void>)?
    private var started = false

    init(limits: ListenerLimits, metrics: ListenerMetrics) {
        self.limits = limits
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            readingBody = true
            bodyStart = context.eventLoop.now
            bodyBytes = 0
            enter(.body, deadline: bodyDeadline, context)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if phase == .body { deadline = bodyDeadline }
        case .end:
            readingBody = false
            enter(.responding, deadline: .distantFuture, context)
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Bytes arrived while idle but no request head came of them: a header has begun.
        if phase == .idle { enter(.header, deadline: context.eventLoop.now + .seconds(limits.readHeaderTimeout), context) }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if readingBody {
                // Answered before the body was read (e.g. refused): the body deadline still holds.
            } else if unanswered > 0 {
                enter(.responding, deadline: .distantFuture, context)
            } else {
                enter(.idle, deadline: context.eventLoop.now + .seconds(limits.idleTimeout), context)
            }
        }
        context.write(data, promise: promise)
    }

    private var bodyDeadline: NIODeadline {
        bodyStart + .seconds(limits.readBodyTimeout) + .nanoseconds(Int64(Double(bodyBytes) / Double(limits.readBodyMinRate) * 1e9))
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        enter(.header, deadline: context.eventLoop.now + .seconds(limits.readHeaderTimeout), context)
    }

    private func enter(_ next: Phase, deadline: NIODeadline, _ context: ChannelHandlerContext) {
        phase = next
        self.deadline = deadline
        if deadline != .distantFuture, timer.map({ deadline < $0.at }) ?? true { arm(at: deadline, context) }
    }

    private func arm(at when: NIODeadline, _ context: ChannelHandlerContext) {
        timer?.task.cancel()
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            timer = nil
            guard deadline != .distantFuture else { return }
            if context.eventLoop.now >= deadline {
                metrics.timedOut(phase.rawValue)
                context.close(promise: nil)
            } else {
                arm(at: deadline, context)
            }
        }
        timer = (when, task)
    }
}

extension TimeAmount {
    static func seconds(_ value: Double) -> TimeAmount { .nanoseconds(Int64(value * 1e9)) }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}
