import XCTest
@testable import HTTPServer

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
