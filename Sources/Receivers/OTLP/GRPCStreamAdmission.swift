import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import OTLP
import Pipeline

/// Bounds what grpc-swift inflates before any handler runs. Its stream handler decompresses each
/// message as its frames arrive, up to the transport's payload ceiling, whoever sent it: 800
/// streams of small gzip messages took 1.5 GiB. So each stream holds the in-flight budget for
/// that ceiling from the moment it opens until it closes. A stream the budget cannot take is
/// answered at once with a trailers-only RESOURCE_EXHAUSTED carrying RetryInfo (as a request
/// over budget always is) and its frames are dropped unread: nothing is inflated for it.
final class GRPCStreamAdmission: Sendable {
    let budget: InFlightBudget
    /// The most bytes the transport inflates for one message (its `maxRequestPayloadSize`).
    let ceiling: Int

    init(budget: InFlightBudget, ceiling: Int) {
        self.budget = budget
        self.ceiling = ceiling
    }

    /// For the transport's accepted-stream callback, which runs before the stream's first frame is read.
    func admit(_ stream: any Channel) -> EventLoopFuture<Void> {
        if let reservation = budget.reserve(buffer: ceiling) {
            stream.closeFuture.whenComplete { _ in reservation.release() }
            return stream.eventLoop.makeSucceededVoidFuture()
        }
        let message = "the collector is at its memory budget for requests in flight (service.in_flight_limit_mib = \(budget.limit >> 20)); retry"
        do {
            try stream.pipeline.syncOperations.addHandler(RefusedStream(message: message), position: .first)
        } catch {
            stream.close(promise: nil)
        }
        return stream.eventLoop.makeSucceededVoidFuture()
    }
}

/// First in a refused stream's pipeline: sends the gRPC answer as trailers only and keeps every
/// inbound frame from the gRPC handler behind it. The stream ends when the client ends its side
/// (or with the connection).
final class RefusedStream: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    let message: String
    private var answered = false

    init(message: String) {
        self.message = message
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        answer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func answer(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let details = GRPCStatusDetails.retryable(code: 8, message: message, retryAfterSeconds: 1)
        let headers = HPACKHeaders([
            (":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "8"),
            ("grpc-message", message), ("grpc-status-details-bin", Data(details).base64EncodedString()),
        ])
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
    }
}
