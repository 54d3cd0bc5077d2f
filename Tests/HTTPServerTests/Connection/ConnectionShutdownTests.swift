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
