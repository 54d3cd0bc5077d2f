import Foundation
import XCTest
import HTTPServer
import Synchronization
import TestSupport

/// A server on 127.0.0.1 with a free port and a small set of routes for live tests.
struct LiveServer {
    let server: HTTPServer
    var port: Int { server.localAddress!.port }

    init(host: String = "127.0.0.1", configure: (inout HTTPServerConfiguration) -> Void = { _ in },
         contended: @escaping @Sendable () -> Bool = { false }) throws {
        var configuration = HTTPServerConfiguration(host: host, port: 0)
        configuration.eventLoopCount = 2
        configure(&configuration)
        let probe = Probe()
        // GET /fast and GET /loop-nice (the event loop thread's nice value) are answered on the
        // event loop, the rest by the handler.
        server = HTTPServer(configuration: configuration, immediate: {
            switch $0.path {
            case "/fast": .text("fast")
            case "/loop-nice": .text("\(ThreadNice.current())")
            default: nil
            }
        }, contended: contended) { request in
            guard request.path == "/hold" else { return await LiveServer.route(request) }
            // Answers only once the test says so, so a request is in flight for as long as needed.
            probe.holding.add(1, ordering: .sequentiallyConsistent)
            while !probe.released.load(ordering: .sequentiallyConsistent) { try? await Task.sleep(for: .milliseconds(5)) }
            return .text("held")
        }
        self.probe = probe
        try server.start()
    }

    /// Streams of `/stream` that ended because their client went away or never read them.
    static let streamsCancelled = Atomic<Int>(0)

    private final class Probe: Sendable {
        let holding = Atomic<Int>(0)
        let released = Atomic<Bool>(false)
    }
    private let probe: Probe

    /// Waits (up to `seconds`) until the handler holds `count` `GET /hold` requests.
    func waitForHolds(_ count: Int, seconds: Double = 10, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while probe.holding.load(ordering: .sequentiallyConsistent) < count && Date() < deadline { usleep(1000) }
        XCTAssertGreaterThanOrEqual(probe.holding.load(ordering: .sequentiallyConsistent), count,
                                    "the /hold request did not reach the handler", file: file, line: line)
    }

    /// Lets every held request (and later ones) answer "held".
    func releaseHolds() { probe.released.store(true, ordering: .sequentiallyConsistent) }

    /// Runs `body` on `count` connections at once, each on a thread of its own; waits up to
    /// `timeout` for them all.
    func onClients(_ count: Int, timeout: TimeInterval = 30, _ body: @escaping @Sendable (TestClient) -> Void) {
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread {
                defer { group.leave() }
                guard let client = try? self.client() else { return XCTFail("cannot connect") }
                body(client)
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + timeout), .success, "clients still running")
    }

    func client(timeout: TimeInterval = 5) throws -> TestClient {
        try TestClient(port: port, host: server.configuration.host, timeout: timeout)
    }

    /// Shuts down and waits (bounded) for it to finish; returns the seconds it took.
    @discardableResult
    func stop(gracePeriod: Duration = .seconds(2), file: StaticString = #filePath, line: UInt = #line) -> TimeInterval {
        let started = Date()
        let done = DispatchSemaphore(value: 0)
        let server = self.server
        Task {
            await server.shutdown(gracePeriod: gracePeriod)
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "shutdown did not finish", file: file, line: line)
        return Date().timeIntervalSince(started)
    }

    /// Starts a shutdown without waiting; `wait` on the returned semaphore to know it finished.
    func beginStop(gracePeriod: Duration) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        let server = self.server
        Task {
            await server.shutdown(gracePeriod: gracePeriod)
            done.signal()
        }
        return done
    }

    /// GET /hold (see `waitForHolds`), GET /hello, POST /echo-size, GET /sleep?ms=, GET /big?bytes=, GET /peer, GET /nice, GET /block?ms= (blocks its thread; answers its name), GET /fast and GET /loop-nice (immediate), GET /n/<text>, GET /close.
    @Sendable static func route(_ request: HTTPRequest) async -> HTTPResponse {
        switch (request.method, request.path) {
        case (.get, "/hello"), (.head, "/hello"):
            return .text("hello")
        case (.post, "/echo-size"), (.put, "/echo-size"):
            var response = HTTPResponse.text("\(request.body.count)")
            response.headers["X-Trailer-Count"] = "\(request.trailers.count)"
            return response
        case (.get, "/sleep"):
            let milliseconds = Int(request.queryValue("ms") ?? "0") ?? 0
            try? await Task.sleep(for: .milliseconds(milliseconds))
            return .text("slept \(milliseconds)")
        case (.get, "/big"):
            let count = Int(request.queryValue("bytes") ?? "0") ?? 0
            return HTTPResponse(body: (0..<count).map { UInt8(truncatingIfNeeded: $0) })
        case (.get, "/peer"):
            return .text(request.remoteAddress?.host ?? "unknown")
        case (.get, "/nice"):
            return .text("\(ThreadNice.current())")
        case (.get, "/block"):
            // Blocks its thread, as a synchronous database call does.
            usleep(UInt32(Int(request.queryValue("ms") ?? "0") ?? 0) * 1000)
            return .text(currentThreadName())
        case (.get, let path) where path.hasPrefix("/n/"):
            return .text(String(path.dropFirst(3)))
        case (.get, "/stream"), (.head, "/stream"):
            // `n` parts 30 ms apart; with `forever`, a dot every 20 ms until the client goes away.
            let count = Int(request.queryValue("n") ?? "3") ?? 3
            let forever = request.queryValue("forever") != nil
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
            let producer = Task {
                for k in 0..<count {
                    try? await Task.sleep(for: .milliseconds(30))
                    continuation.yield(Array("part \(k)\n".utf8))
                }
                while forever && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(20))
                    continuation.yield(Array(".".utf8))
                }
                continuation.finish()
            }
            continuation.onTermination = { reason in
                if case .cancelled = reason { LiveServer.streamsCancelled.add(1, ordering: .sequentiallyConsistent) }
                producer.cancel()
            }
            return HTTPResponse(headers: ["Content-Type": "text/plain"], stream: stream)
        case (.get, "/close"):
            return HTTPResponse(headers: ["Connection": "close"], body: Array("bye".utf8))
        default:
            return .problem(.notFound, detail: "no route for \(request.path)")
        }
    }
}

/// The calling thread's name (a synchronous function: `Thread.current` is off limits to async code).
func currentThreadName() -> String { Thread.current.name ?? "" }
