import Foundation
import XCTest
import HTTPServer
import TestSupport

/// A server on 127.0.0.1 with a free port and a small set of routes for live tests.
struct LiveServer {
    let server: HTTPServer
    var port: Int { server.localAddress!.port }

    init(host: String = "127.0.0.1", configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var configuration = HTTPServerConfiguration(host: host, port: 0)
        configuration.eventLoopCount = 2
        configure(&configuration)
        server = HTTPServer(configuration: configuration, handler: LiveServer.route)
        try server.start()
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

    /// GET /hello, POST /echo-size, GET /sleep?ms=, GET /big?bytes=, GET /peer, GET /n/<text>, GET /close.
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
        case (.get, let path) where path.hasPrefix("/n/"):
            return .text(String(path.dropFirst(3)))
        case (.get, "/close"):
            return HTTPResponse(headers: ["Connection": "close"], body: Array("bye".utf8))
        default:
            return .problem(.notFound, detail: "no route for \(request.path)")
        }
    }
}
