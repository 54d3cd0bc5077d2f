import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceCore
import Synchronization

/// One callback POST over the network, to the very address that was checked: the connection
/// never looks the name up again, so DNS rebinding cannot send it elsewhere. https verifies the
/// receiver's certificate for the URL's host (SNI and name check against the system's trust
/// roots plus `callbacks.ca_file`), as a browser would.
struct CallbackClient: Sendable {
    /// Why a delivery got no status.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let tls: NIOSSLContext
    private let timeout: Double
    private let group: any EventLoopGroup

    init(caFile: String?, timeout: Double, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        tls = try NIOSSLContext(configuration: configuration)
        self.timeout = timeout
        self.group = group
    }

    /// POSTs `body` to `url` at `address` and returns the answer's status; throws when there is
    /// none within the timeout (refused, TLS failed, closed, slow).
    func post(_ url: CallbackURL, to address: NetworkAddress, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        let loop = group.next()
        let outcome = Outcome(loop.makePromise(of: Int.self))
        let deadline = loop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            outcome.finish(.failure(Failure(description: "no answer within \(timeout) s")))
        }
        defer { deadline.cancel() }
        let serverName: String? = if case .name(let name) = url.host { name } else { nil }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .channelInitializer { [tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if url.isHTTPS {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(StatusReader(outcome: outcome))
                    }
                }
                .connect(to: try SocketAddress(ipAddress: "\(address)", port: url.port)).get()
        } catch {
            throw Failure(description: "cannot connect to \(address) port \(url.port): \(error)")
        }
        defer { channel.close(promise: nil) }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.target)
        head.headers.add(name: "Host", value: url.hostField)
        head.headers.add(name: "Content-Length", value: "\(body.count)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await outcome.future.get()
    }

    /// The status, or the first error: whichever comes first wins.
    private final class Outcome: Sendable {
        private let promise: EventLoopPromise<Int>
        private let settled = Mutex(false)
        var future: EventLoopFuture<Int> { promise.futureResult }

        init(_ promise: EventLoopPromise<Int>) { self.promise = promise }

        func finish(_ result: Result<Int, any Error>) {
            guard settled.withLock({ settled in defer { settled = true }; return !settled }) else { return }
            promise.completeWith(result)
        }
    }

    /// Reads the status line of the answer; the rest is not needed.
    private final class StatusReader: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let outcome: Outcome

        init(outcome: Outcome) { self.outcome = outcome }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { outcome.finish(.success(Int(head.status.code))) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            outcome.finish(.failure(Failure(description: "\(error)")))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            outcome.finish(.failure(Failure(description: "the receiver closed the connection without answering")))
            context.fireChannelInactive()
        }
    }
}
