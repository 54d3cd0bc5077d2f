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

    /// 1 KiB/s after the 7 s grace: a body dribbling a byte a second is cut although it never
    /// falls silent for a whole body timeout; a steady one is not.
    func testBodySlowerThanTheMinimumRateGets408() {
        var slow = MachineDriver { $0.limits.minBodyRate = 1024 }
        _ = slow.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", at: 0)
        for second in 1...7 {
            _ = slow.receive("x", at: UInt64(second) * s)
            XCTAssertEqual(slow.tick(at: UInt64(second) * s), .none, "within the grace at \(second) s")
        }
        _ = slow.receive("x", at: 8 * s)
        XCTAssertEqual(slow.tick(at: 8 * s), .write(408, close: true))
        XCTAssertTrue(String(decoding: slow.lastWrite?.response.body ?? [], as: UTF8.self).contains("1024 bytes/s"))

        var steady = MachineDriver { $0.limits.minBodyRate = 1024 }
        _ = steady.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", at: 0)
        for second in 1...40 {
            _ = steady.receive([UInt8](repeating: 0x61, count: 2000), at: UInt64(second) * s)
            XCTAssertEqual(steady.tick(at: UInt64(second) * s), .none, "2000 B/s at \(second) s")
        }
    }

    /// Bodies in flight share one budget: one that would pass it is 503 before its bytes are
    /// read, and a finished body gives its share back.
    func testBodiesBeyondTheSharedBudgetGet503() {
        let budget = BodyMemoryBudget(limit: 1000)
        var first = MachineDriver(budget: budget), second = MachineDriver(budget: budget)
        _ = first.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 800\r\n\r\n", at: 0)
        XCTAssertEqual(budget.inUse, 800)
        XCTAssertEqual(second.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 300\r\n\r\n", at: 0), .write(503, close: true))
        XCTAssertEqual(second.lastWrite?.response.headers["Retry-After"], "1")
        XCTAssertEqual(first.receive([UInt8](repeating: 1, count: 800), at: 0), .dispatch("POST /"))
        XCTAssertEqual(budget.inUse, 0, "a complete body no longer counts")
        var third = MachineDriver(budget: budget)
        XCTAssertEqual(third.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 300\r\n\r\n" + String(repeating: "a", count: 300), at: 0),
                       .dispatch("POST /"))
        var abandoned: MachineDriver? = MachineDriver(budget: budget)
        _ = abandoned!.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 900\r\n\r\n", at: 0)
        XCTAssertEqual(budget.inUse, 900)
        abandoned = nil
        XCTAssertEqual(budget.inUse, 0, "a dropped connection gives its share back")
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
