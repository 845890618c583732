import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import OTLP
import Pipeline

/// Bounds what grpc-swift inflates before any handler runs. Its stream handler decompresses each
/// message as its frames arrive, up to the transport's payload ceiling, whoever sent it: 800
/// streams of small gzip messages took 1.5 GiB. So a stream is admitted before grpc-swift sees
/// it: at its HEADERS, one without a known token is answered UNAUTHENTICATED; at its message's
/// 5-byte prefix, it holds the in-flight budget for what that message can become (its length,
/// or for a compressed one what deflate can inflate it to, up to the ceiling) as its
/// workflow's, until it closes. One workflow holds at most a quarter of the budget this way,
/// so a tenant's open streams cannot starve another's exports. A stream the budget cannot take
/// is answered RESOURCE_EXHAUSTED with RetryInfo (as a request over budget always is). A
/// refused stream's answer is trailers only, and its frames are dropped unread.
final class GRPCStreamAdmission: Sendable {
    let budget: InFlightBudget
    /// The most bytes the transport inflates for one message (its `maxRequestPayloadSize`).
    let ceiling: Int
    /// The workflow of an `authorization` value, or nil when it names no live token.
    let workflow: @Sendable (String?) -> String?
    /// Deflate's largest expansion (zlib's technical details: 1032:1).
    static let deflateRatio = 1032

    init(budget: InFlightBudget, ceiling: Int, workflow: @escaping @Sendable (String?) -> String?) {
        self.budget = budget
        self.ceiling = ceiling
        self.workflow = workflow
    }

    /// For the transport's accepted-stream callback, which runs before the stream's first frame is read.
    func admit(_ stream: any Channel) -> EventLoopFuture<Void> {
        do {
            try stream.pipeline.syncOperations.addHandler(StreamGate(admission: self), position: .first)
        } catch {
            stream.close(promise: nil)
        }
        return stream.eventLoop.makeSucceededVoidFuture()
    }

    /// What a message announced by its prefix can hold before the handler runs: its inflated
    /// bytes and the service's copy of them.
    func cost(compressed: Bool, length: Int) -> Int {
        let inflated = compressed ? length.multipliedReportingOverflow(by: Self.deflateRatio).partialValue : length
        return min(ceiling, max(0, inflated)) * 2
    }

    /// A stream's gRPC answer when it is not admitted.
    struct Refusal: Error {
        var code: Int32
        var message: String
        var retryable: Bool
    }

    /// The stream's workflow, or UNAUTHENTICATED for a stream without a live token.
    func workflow(authorization: String?) -> Result<String, Refusal> {
        guard let workflow = workflow(authorization) else {
            return .failure(
                Refusal(
                    code: 16, message: authorization == nil ? "missing authorization metadata: Bearer <wf_ token>" : "unknown or revoked token",
                    retryable: false))
        }
        return .success(workflow)
    }

    var overBudget: Refusal {
        Refusal(
            code: 8,
            message: "the collector is at its memory budget for requests in flight (service.in_flight_limit_mib = \(budget.limit >> 20)); retry",
            retryable: true)
    }
}

/// First in a stream's pipeline: holds the stream's frames until it knows whether anything
/// behind it may see them (its token at the HEADERS, the budget at the message's prefix). A
/// refused stream gets its gRPC answer as trailers only, and its frames go no further; it ends
/// when the client ends its side (or with the connection).
final class StreamGate: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case awaitingHeaders
        /// Frames held back until the message's 5-byte prefix has arrived.
        case awaitingPrefix(workflow: String, held: [NIOAny], prefix: [UInt8])
        case admitted
        case refused
    }
    private let admission: GRPCStreamAdmission
    private var state = State.awaitingHeaders

    init(admission: GRPCStreamAdmission) {
        self.admission = admission
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .admitted: context.fireChannelRead(data)
        case .refused: break
        case .awaitingHeaders:
            guard case .headers(let headers) = unwrapInboundIn(data) else { return refuse(context, nil) }
            switch admission.workflow(authorization: headers.headers.first(name: "authorization")) {
            case .failure(let refusal): refuse(context, refusal)
            case .success where headers.endStream: admit(context, [data])
            case .success(let workflow): state = .awaitingPrefix(workflow: workflow, held: [data], prefix: [])
            }
        case .awaitingPrefix(let workflow, var held, var prefix):
            held.append(data)
            guard case .data(let frame) = unwrapInboundIn(data) else {
                state = .awaitingPrefix(workflow: workflow, held: held, prefix: prefix)
                return
            }
            if case .byteBuffer(let bytes) = frame.data {
                prefix += bytes.readableBytesView.prefix(5 - prefix.count)
            }
            guard prefix.count == 5 else {
                if frame.endStream { return admit(context, held) }  // no whole message: nothing to inflate
                state = .awaitingPrefix(workflow: workflow, held: held, prefix: prefix)
                return
            }
            let length = prefix[1...].reduce(0) { $0 << 8 | Int($1) }
            let cost = admission.cost(compressed: prefix[0] != 0, length: length)
            guard let reservation = admission.budget.reserve(buffer: cost, owner: workflow) else { return refuse(context, admission.overBudget) }
            context.channel.closeFuture.whenComplete { _ in reservation.release() }
            admit(context, held)
        }
    }

    private func admit(_ context: ChannelHandlerContext, _ held: [NIOAny]) {
        state = .admitted
        held.forEach { context.fireChannelRead($0) }
    }

    private func refuse(_ context: ChannelHandlerContext, _ refusal: GRPCStreamAdmission.Refusal?) {
        state = .refused
        guard let refusal else { return }
        var fields: [(String, String)] = [
            (":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "\(refusal.code)"), ("grpc-message", refusal.message),
        ]
        if refusal.retryable {
            let details = GRPCStatusDetails.retryable(code: refusal.code, message: refusal.message, retryAfterSeconds: 1)
            fields.append(("grpc-status-details-bin", Data(details).base64EncodedString()))
        }
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: HPACKHeaders(fields), endStream: true))), promise: nil)
    }
}
