import XCTest
import HTTPServer
import TestSupport

/// Real sockets: start, bind errors, IPv6 and graceful shutdown.
final class LiveLifecycleTests: XCTestCase {
    func testPortZeroIsReplacedByTheBoundPort() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let address = try XCTUnwrap(live.server.localAddress)
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertGreaterThan(address.port, 0)
        XCTAssertThrowsError(try live.server.start()) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
    }

    func testBindingAPortInUseFailsWithContext() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let clash = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: live.port)) { _ in HTTPResponse() }
        XCTAssertThrowsError(try clash.start()) { error in
            XCTAssertEqual(error as? HTTPServerError, .socketCall(operation: "bind", host: "127.0.0.1", port: live.port, errno: EADDRINUSE))
        }
        XCTAssertNil(clash.localAddress)
    }

    func testUnresolvableHostFails() {
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "no-such-host.invalid", port: 0)) { _ in HTTPResponse() }
        XCTAssertThrowsError(try server.start()) { error in
            guard case .addressResolution(let host, 0, _)? = error as? HTTPServerError else { return XCTFail("\(error)") }
            XCTAssertEqual(host, "no-such-host.invalid")
        }
    }

    func testIPv6Loopback() throws {
        let live: LiveServer
        do {
            live = try LiveServer(host: "::1")
        } catch HTTPServerError.socketCall(let operation, _, _, let code) where code == EADDRNOTAVAIL || code == EAFNOSUPPORT {
            throw XCTSkip("no IPv6 loopback here (\(operation) errno \(code))")
        }
        defer { live.stop() }
        XCTAssertEqual(live.server.localAddress?.family, .ipv6)
        let client = try live.client()
        try client.send("GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "::1")
    }

    func testGracefulShutdownFinishesTheInFlightRequestAndStopsAccepting() throws {
        let live = try LiveServer()
        let busy = try live.client()
        let idle = try live.client()
        try idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().status, 200)
        try busy.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        live.waitForHolds(1)
        let port = live.port
        let done = live.beginStop(gracePeriod: .seconds(30))
        XCTAssertTrue(idle.isClosedByServer(), "idle connections close at once")
        live.releaseHolds()
        let response = try busy.readResponse()
        XCTAssertEqual(response.text, "held")
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertTrue(busy.isClosedByServer())
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertThrowsError(try TestClient(port: port), "the listener is closed")
    }

    func testShutdownClosesWhatIsLeftAfterTheGracePeriod() throws {
        let live = try LiveServer()
        let client = try live.client()
        defer { live.releaseHolds() }
        try client.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        live.waitForHolds(1)
        let seconds = live.stop(gracePeriod: .milliseconds(200))
        XCTAssertLessThan(seconds, 2)
        XCTAssertTrue(client.isClosedByServer())
    }

    func testWaitUntilStoppedReturnsAfterShutdown() throws {
        let live = try LiveServer()
        let stopped = DispatchSemaphore(value: 0)
        let server = live.server
        Task {
            await server.waitUntilStopped()
            stopped.signal()
        }
        XCTAssertEqual(stopped.wait(timeout: .now() + 0.1), .timedOut)
        live.stop()
        XCTAssertEqual(stopped.wait(timeout: .now() + 5), .success)
    }
}
