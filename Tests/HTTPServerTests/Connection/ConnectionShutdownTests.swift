import XCTest
@testable import HTTPServer

final class ConnectionShutdownTests: XCTestCase {
    private let get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"

    func testIdleConnectionClosesAtOnce() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.shutdown(), .close)
    }

    func testInFlightRequestIsAnsweredWithCloseThenCloses() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive(get + get), .dispatch("GET /"))
        XCTAssertEqual(driver.shutdown(), .none)
        XCTAssertEqual(driver.respond(), .write(200, close: true))
        XCTAssertEqual(driver.writeDone(), .close)
    }

    func testPartialHeadIsDropped() {
        var driver = MachineDriver()
        _ = driver.receive("GET / HTTP/1.1\r\nHo")
        XCTAssertEqual(driver.shutdown(), .close)
    }

    func testArrivingBodyIsFinishedThenAnswered() {
        var driver = MachineDriver()
        _ = driver.receive("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\na")
        XCTAssertEqual(driver.shutdown(), .none)
        XCTAssertEqual(driver.receive("b"), .dispatch("POST /"))
        XCTAssertEqual(driver.respond(), .write(200, close: true))
        XCTAssertEqual(driver.writeDone(), .close)
    }

    func testAbortedMachineIgnoresEverything() {
        var driver = MachineDriver()
        _ = driver.receive(get)
        driver.machine.abort()
        XCTAssertEqual(driver.respond(), .none)
        XCTAssertEqual(driver.receive(get), .none)
        XCTAssertEqual(driver.tick(at: .max), .none)
        XCTAssertFalse(driver.machine.wantsRead)
    }
}

final class ConnectionAbandonedInputTests: XCTestCase {
    func testCleanCloseLeavesNoInputBehind() {
        var driver = MachineDriver()
        _ = driver.receive("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        _ = driver.answer()
        XCTAssertTrue(driver.machine.isClosed)
        XCTAssertFalse(driver.machine.abandonedInput)
    }

    func testErrorsTimeoutsAndQueuedInputAreAbandoned() {
        var error = MachineDriver()
        _ = error.receive("GET / HTTP/9.9\r\n\r\n")
        XCTAssertTrue(error.machine.abandonedInput)

        var timeout = MachineDriver()
        _ = timeout.receive("GET / HT")
        _ = timeout.tick(at: 60 * MachineDriver.second)
        XCTAssertTrue(timeout.machine.abandonedInput)

        var queued = MachineDriver()
        _ = queued.receive("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = queued.respond(headers: ["Connection": "close"])
        XCTAssertTrue(queued.machine.abandonedInput)
    }
}
