import Foundation
import NNRuntime
@testable import ServiceCore
import TestSupport
import XCTest

final class ServiceConfigurationTests: XCTestCase {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testShippedFileStatesTheDefaults() throws {
        let shipped = repositoryRoot.appendingPathComponent("config/segserve.yaml").path
        XCTAssertEqual(try ServiceConfiguration.load(file: shipped, environment: [:]), ServiceConfiguration())
    }

    func testFileThenEnvironment() throws {
        let path = try write("""
            server:
              port: 9000
              header_timeout: 2.5
              allowed_hosts: [segserve.example, localhost]
              slow_request_seconds: 4
              max_slow_connection_share: 0.25
              request_thread_nice: 5
              busy_loop_share: 0.25
            limits: { max_job_cost: 5000 }
            workers: { count: 2, precision: bf16, max_batch: 2, max_batch_delay_ms: 5 }
            queue:
              max_queued: ~
            categories_path: cats.json
            """)
        let config = try ServiceConfiguration.load(file: path, environment: ["SEGSERVE_PORT": "9100", "SEGSERVE_QUEUE_MAX_WAIT": "5",
                                                                             "SEGSERVE_DATABASE": "/data/db.sqlite"])
        XCTAssertEqual(config.server.port, 9100)
        XCTAssertEqual(config.server.headerTimeout, 2.5)
        XCTAssertEqual(config.workers.count, 2)
        XCTAssertEqual(config.workers.precision, .bf16)
        XCTAssertEqual(config.workers.maxBatch, 2)
        XCTAssertEqual(config.workers.maxBatchDelayMilliseconds, 5)
        XCTAssertEqual(config.queue.maxQueued, 64)
        XCTAssertEqual(config.queue.maxWait, 5)
        XCTAssertEqual(config.databasePath, "/data/db.sqlite")
        XCTAssertEqual(config.categoriesPath, "cats.json")
        XCTAssertEqual(config.server.allowedHosts, ["segserve.example", "localhost"])
        XCTAssertEqual(config.limits.maxJobCost, 5000)
        XCTAssertEqual(config.server.slowRequestSeconds, 4)
        XCTAssertEqual(config.server.maxSlowConnectionShare, 0.25)
        XCTAssertEqual(config.server.requestThreadNice, 5)
        XCTAssertEqual(config.server.busyLoopShare, 0.25)
        let fromEnvironment = try ServiceConfiguration.load(file: nil, environment: ["SEGSERVE_SERVER_ALLOWED_HOSTS": "a.example, b.example"])
        XCTAssertEqual(fromEnvironment.server.allowedHosts, ["a.example", "b.example"])
    }

    func testMistakesAreNamed() throws {
        let cases: [(String, String)] = [
            ("server:\n  prot: 1\n", "unknown setting 'server.prot'"),
            ("server:\n  port: 70000\n", "server.port: '70000' is not an integer in 0...65535"),
            ("retention:\n  ttl: soon\n", "retention.ttl: 'soon' is not a number of seconds >= 0"),
            ("server:\n  port: [1, 2]\n", "server.port: expected a single value"),
            ("server:\n  allowed_hosts: [a, [b]]\n", "server.allowed_hosts: expected a list of single values"),
            ("- a\n", "expected a mapping of settings"),
            ("log_level: loud\n", "log_level: 'loud' is not a log level"),
            ("server:\n  max_slow_connection_share: 2\n", "server.max_slow_connection_share: '2' is not a number in 0...1"),
            ("server:\n  request_thread_nice: 20\n", "server.request_thread_nice: '20' is not an integer in 0...19"),
            ("workers:\n  precision: fp16\n", "workers.precision: 'fp16' is not one of fp32, bf16"),
            ("workers:\n  max_batch: 0\n", "workers.max_batch: '0' is not an integer in 1...64"),
            ("workers:\n  max_batch_delay_ms: -1\n", "workers.max_batch_delay_ms: '-1' is not an integer in 0...1000"),
        ]
        for (yaml, message) in cases {
            let path = try write(yaml)
            XCTAssertThrowsError(try ServiceConfiguration.load(file: path, environment: [:]), yaml) {
                XCTAssertTrue("\($0)".contains(message), "\($0) should contain \(message)")
            }
        }
        XCTAssertThrowsError(try ServiceConfiguration.load(file: nil, environment: ["SEGSERVE_WORKERS_COUNT": "zero"])) {
            XCTAssertTrue("\($0)".hasPrefix("SEGSERVE_WORKERS_COUNT: workers.count"), "\($0)")
        }
        XCTAssertThrowsError(try ServiceConfiguration.load(file: "/nonexistent/segserve.yaml", environment: [:])) {
            XCTAssertTrue("\($0)".contains("cannot read /nonexistent/segserve.yaml"), "\($0)")
        }
    }
}
