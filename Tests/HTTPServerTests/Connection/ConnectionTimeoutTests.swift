import XCTest
@testable import HTTPServer

/// Timeouts of the connection machine: header 5 s, body 7 s, idle 11 s, write 13 s (see `MachineDriver`).
final class ConnectionTimeoutTests: XCTestCase {
    private let s = MachineDriver.second
    private let get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"

    func testSilentNewConnectionClosesAfterTheHeaderTimeout() {
        var driver = MachineDriver(now: 100 * s)
        XCTAssertEqual(driver.tick(at: 104 * s), .none)
        XCTAssertEqual(driver.tick(at: 105 * s), .close)
    }

    func testSlowlorisHeadGets408EvenWhileBytesTrickle() {
        var driver = MachineDriver()
        _ = driver.receive("GET / HTTP/1.1\r\n", at: 1 * s)
        _ = driver.receive("X-A: 1\r\n", at: 3 * s)
        _ = driver.receive("X-B: 2\r\n", at: 5 * s)
        XCTAssertEqual(driver.tick(at: 5 * s), .none)
        XCTAssertEqual(driver.tick(at: 6 * s), .write(408, close: true))
        XCTAssertEqual(driver.lastWrite?.response.headers["Content-Type"], "application/problem+json")
        XCTAssertFalse(driver.machine.wantsRead)
        XCTAssertEqual(driver.writeDone(at: 6 * s), .close)
    }

    func testStalledBodyGets408AndProgressResetsTheClock() {
        var driver = MachineDriver()
        _ = driver.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab", at: 0)
        XCTAssertEqual(driver.tick(at: 6 * s), .none)
        _ = driver.receive("cd", at: 6 * s)
        XCTAssertEqual(driver.tick(at: 12 * s), .none)
        XCTAssertEqual(driver.tick(at: 13 * s), .write(408, close: true))
    }

    func testIdleKeepAliveConnectionClosesAfterTheIdleTimeout() {
        var driver = MachineDriver()
        _ = driver.receive(get, at: 0)
        _ = driver.respond(at: 1 * s)
        XCTAssertEqual(driver.writeDone(at: 2 * s), .none)
        XCTAssertEqual(driver.tick(at: 12 * s), .none)
        XCTAssertEqual(driver.tick(at: 13 * s), .close)
    }

    func testAHandlerMayTakeAsLongAsItNeeds() {
        var driver = MachineDriver()
        _ = driver.receive(get, at: 0)
        XCTAssertEqual(driver.tick(at: 1000 * s), .none)
        XCTAssertEqual(driver.respond(at: 1000 * s), .write(200, close: false))
    }

    func testPipelinedHeadClockStartsWhenTheConnectionFreesUp() {
        var driver = MachineDriver()
        _ = driver.receive(get + "GET /next HTTP/1.1\r\n", at: 0)
        XCTAssertEqual(driver.tick(at: 60 * s), .none)
        XCTAssertEqual(driver.answer(at: 60 * s), .none)
        XCTAssertEqual(driver.tick(at: 64 * s), .none)
        XCTAssertEqual(driver.tick(at: 65 * s), .write(408, close: true))
    }

    func testStuckWriteCloses() {
        var driver = MachineDriver()
        _ = driver.receive(get, at: 0)
        _ = driver.respond(at: 0)
        driver.machine.wroteSome(now: 10 * s)
        XCTAssertEqual(driver.tick(at: 22 * s), .none)
        XCTAssertEqual(driver.tick(at: 23 * s), .close)
    }

    func testBodyClockStartsWhenContinueIsSent() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", at: 0), .writeContinue)
        XCTAssertEqual(driver.writeDone(at: 20 * s), .none)
        XCTAssertEqual(driver.tick(at: 26 * s), .none)
        XCTAssertEqual(driver.tick(at: 27 * s), .write(408, close: true))
    }

    func testHugeTimeoutsDoNotOverflow() {
        var driver = MachineDriver(configure: { $0.timeouts.headerRead = .seconds(Int64.max) }, now: 5)
        XCTAssertEqual(driver.tick(at: .max - 1), .none)
    }
}
