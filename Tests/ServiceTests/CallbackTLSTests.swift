import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import Synchronization
import TestSupport
import XCTest

/// https callbacks: the connection goes to the address checked, never to a second lookup of the
/// name, and TLS verifies the receiver's certificate for the URL's host.
final class CallbackTLSTests: XCTestCase {
    /// An https receiver on loopback with the test certificate (hooks.test only, signed
    /// by the test CA of `tools/make_tls_fixtures.sh`); records each request and answers 204.
    final class Receiver: Sendable {
        struct Request: Sendable { var head: HTTPRequestHead; var body: [UInt8] }
        final class Log: Sendable { let received = Mutex<[Request]>([]) }
        let channel: any Channel
        let log = Log()
        var port: Int { channel.localAddress?.port ?? 0 }

        init() throws {
            let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(fixture("hooks.pem")).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: fixture("hooks.key"), format: .pem))))
            let log = self.log
            channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(Recorder(log: log))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
        }

        func waitFor(_ count: Int, seconds: Double = 30) -> [Request] {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while log.received.withLock({ $0.count }) < count && Date() < deadline { usleep(10_000) }
            return log.received.withLock { $0 }
        }

        func stop() { try? channel.close().wait() }
    }

    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let log: Receiver.Log
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(log: Receiver.Log) { self.log = log }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body(var buffer): body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                if let head { log.received.withLock { $0.append(Receiver.Request(head: head, body: body)) } }
                let response = HTTPResponseHead(version: .http1_1, status: .noContent, headers: ["Content-Length": "0"])
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/tls/\(name)", withExtension: nil)!.path
    }

    func testHTTPSDeliveriesReachTheAddressCheckedAndVerifyTheName() throws {
        let receiver = try Receiver()
        defer { receiver.stop() }
        let port = receiver.port
        // Neither name is in DNS: a delivery only arrives if it connects to the address checked.
        let harness = try ServiceHarness(.inProcess, configure: { c in
            c.callbacks.allowedHosts = ["hooks.test", "other.test", "127.0.0.1"]
            c.callbacks.allowedNetworks = [Network(parsing: "127.0.0.0/8")!]
            c.callbacks.secret = "s3cret"
            c.callbacks.maxAttempts = 1
            c.callbacks.caFile = Self.fixture("ca.pem")
        }, resolve: { name in ["hooks.test", "other.test"].contains(name) ? [NetworkAddress(ipv4: "127.0.0.1")!] : [] })
        defer { harness.stop() }
        func delivery(_ url: String) throws -> (status: Int?, error: String?) {
            let id = try harness.submit(body: ("image/png", try pngBytes()), query: "?steps=1&callback_url=\(url)")["id"] as! String
            let deadline = Date(timeIntervalSinceNow: 30)
            while try harness.service.store.callbackAttempts(ofJob: id).isEmpty && Date() < deadline { usleep(10_000) }
            let attempt = try XCTUnwrap(try harness.service.store.callbackAttempts(ofJob: id).first, url)
            return (attempt.status, attempt.error)
        }

        XCTAssertEqual(try delivery("https://hooks.test:\(port)/hook").status, 204)
        let got = try XCTUnwrap(receiver.waitFor(1).first)
        XCTAssertEqual(got.head.method, .POST)
        XCTAssertEqual(got.head.uri, "/hook")
        XCTAssertEqual(got.head.headers["Host"], ["hooks.test:\(port)"])
        XCTAssertEqual(got.head.headers["X-Segserve-Signature"], [CallbackDispatcher.signature(got.body, secret: "s3cret")])

        // The certificate names neither other.test nor 127.0.0.1: refused by TLS, nothing delivered.
        for url in ["https://other.test:\(port)/hook", "https://127.0.0.1:\(port)/hook"] {
            let refused = try delivery(url)
            XCTAssertNil(refused.status, url)
            XCTAssertTrue(refused.error?.contains("failedToValidateHostname") == true, refused.error ?? "")
        }
        XCTAssertEqual(receiver.waitFor(2, seconds: 0.5).count, 1)
    }
}
