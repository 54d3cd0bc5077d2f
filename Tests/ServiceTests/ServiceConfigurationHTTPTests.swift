import HTTPServer
@testable import Service
import ServiceCore
import XCTest

final class ServiceConfigurationHTTPTests: XCTestCase {
    /// Every `server.*` setting the HTTP layer enforces reaches its configuration.
    func testServerSettingsReachTheHTTPLayer() {
        var config = ServiceConfiguration()
        config.server.host = "0.0.0.0"
        config.server.port = 9100
        config.server.maxBodyBytes = 1000
        config.server.maxConnections = 7
        config.server.minBodyRate = 11
        config.server.maxInflightBodyBytes = 5000
        config.server.slowRequestSeconds = 4
        config.server.maxSlowConnectionShare = 0.25
        config.server.requestThreadNice = 5
        config.server.requestThreads = 3
        config.server.busyLoopShare = 0.3
        config.server.headerTimeout = 2.5
        config.server.bodyTimeout = 3
        config.server.idleTimeout = 4
        let http = config.httpServer
        XCTAssertEqual(http.host, "0.0.0.0")
        XCTAssertEqual(http.port, 9100)
        XCTAssertEqual(http.limits.maxBodyBytes, 1000)
        XCTAssertEqual(http.limits.maxConnections, 7)
        XCTAssertEqual(http.limits.minBodyRate, 11)
        XCTAssertEqual(http.limits.maxInflightBodyBytes, 5000)
        XCTAssertEqual(http.limits.slowRequestSeconds, 4)
        XCTAssertEqual(http.limits.maxSlowConnectionShare, 0.25)
        XCTAssertEqual(http.requestThreadNice, 5)
        XCTAssertEqual(http.requestThreads, 3)
        XCTAssertEqual(http.busyLoopShare, 0.3)
        XCTAssertEqual(http.timeouts.headerRead, .milliseconds(2500))
        XCTAssertEqual(http.timeouts.bodyRead, .seconds(3))
        XCTAssertEqual(http.timeouts.idle, .seconds(4))
    }
}
