import Crypto
import Foundation
import HTTPServer
import JobStore
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import Synchronization
import TestSupport
import XCTest

/// Job callbacks against a receiver on loopback: signed, retried with backoff, recorded, and
/// resumed by the next process when one stops with deliveries pending.
final class CallbackTests: XCTestCase {
    /// An HTTP receiver that records what it gets and answers `status(attempt)`.
    final class Receiver: Sendable {
        final class Log: Sendable {
            let received = Mutex<[HTTPRequest]>([])
            let answer = Mutex<@Sendable (Int) -> Int>({ _ in 200 })
        }
        let server: HTTPServer
        let log = Log()
        var url: String { "http://127.0.0.1:\(server.localAddress!.port)/hook" }

        init() throws {
            let log = self.log
            server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0)) { request in
                let count = log.received.withLock { $0.append(request); return $0.count }
                return HTTPResponse(status: HTTPStatus(code: log.answer.withLock { $0 }(count)))
            }
            try server.start()
        }

        func answer(_ status: @escaping @Sendable (Int) -> Int) { log.answer.withLock { $0 = status } }

        func waitFor(_ count: Int, seconds: Double = 30) -> [HTTPRequest] {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while log.received.withLock({ $0.count }) < count && Date() < deadline { usleep(10_000) }
            return log.received.withLock { $0 }
        }

        func stop() {
            let done = DispatchSemaphore(value: 0)
            let server = self.server
            Task { await server.shutdown(gracePeriod: .seconds(1)); done.signal() }
            _ = done.wait(timeout: .now() + 5)
        }
    }

    func allowing(_ configuration: inout ServiceConfiguration) {
        configuration.callbacks.allowedHosts = ["127.0.0.1"]
        configuration.callbacks.allowedNetworks = [Network(parsing: "127.0.0.0/8")!]
        configuration.callbacks.secret = "s3cret"
        configuration.callbacks.retryBase = 0.1
    }

    func testFailuresAreRetriedAndEachAttemptIsRecorded() throws {
        let receiver = try Receiver()
        defer { receiver.stop() }
        receiver.answer { $0 <= 2 ? 500 : 204 }
        let harness = try ServiceHarness(.inProcess, configure: allowing)
        defer { harness.stop() }
        let job = try harness.submit(body: ("image/png", try pngBytes()), query: "?callback_url=\(receiver.url)")
        let id = job["id"] as! String
        XCTAssertEqual((job["options"] as? [String: Any])?["callback_url"] as? String, receiver.url)
        let got = receiver.waitFor(3)
        XCTAssertEqual(got.count, 3, "two failures, then the delivery")
        for (n, request) in got.enumerated() {
            XCTAssertEqual(request.method, .post)
            XCTAssertEqual(request.headers["Content-Type"], "application/json")
            XCTAssertEqual(request.headers["X-Segserve-Delivery"], "\(id)/\(n + 1)")
            let mac = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data("s3cret".utf8)))
            XCTAssertEqual(request.headers["X-Segserve-Signature"], "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
            let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            XCTAssertEqual(body["id"] as? String, id)
            XCTAssertEqual(body["state"] as? String, "succeeded")
        }
        let deadline = Date(timeIntervalSinceNow: 5)
        while try harness.service.store.callback(ofJob: id)?.state != .delivered && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(try harness.service.store.callback(ofJob: id)?.state, .delivered)
        let attempts = try harness.service.store.callbackAttempts(ofJob: id)
        XCTAssertEqual(attempts.map(\.status), [500, 500, 204])
        let gaps = zip(attempts.dropFirst(), attempts).map { $0.attemptedAt.timeIntervalSince($1.attemptedAt) }
        XCTAssertGreaterThanOrEqual(gaps[0], 0.1, "backoff")
        XCTAssertGreaterThanOrEqual(gaps[1], 0.2, "doubling")
        XCTAssertEqual(receiver.waitFor(4, seconds: 0.5).count, 3, "nothing after the delivery")
        let shown = try XCTUnwrap(try harness.json(try harness.request("GET", "/v1/jobs/\(id)"))["callback"] as? [String: Any])
        XCTAssertEqual(shown["state"] as? String, "delivered")
        XCTAssertEqual(shown["attempts"] as? Int, 3)
        XCTAssertEqual(shown["url"] as? String, receiver.url)
        let deliveries = try XCTUnwrap(shown["deliveries"] as? [[String: Any]])
        XCTAssertEqual(deliveries.map { $0["status"] as? Int }, [500, 500, 204])
        XCTAssertEqual(deliveries.map { $0["attempt"] as? Int }, [1, 2, 3])
    }

    /// A host is decided on what it resolves to: at submission, and again before every
    /// attempt, so a name that turns private after submission (DNS rebinding) is refused; a
    /// plain-http delivery connects to the address checked, naming the host in Host.
    func testAddressesAreCheckedAtSubmissionAndBeforeEveryAttempt() throws {
        let receiver = try Receiver()
        defer { receiver.stop() }
        let port = receiver.server.localAddress!.port
        let answers = Mutex<[NetworkAddress]>([NetworkAddress(ipv4: "93.184.216.34")!])
        let harness = try ServiceHarness(.inProcess, configure: { c in
            self.allowing(&c)
            c.callbacks.allowedHosts = ["hooks.test"]
            c.callbacks.allowedNetworks = []
        }, resolve: { name in name == "hooks.test" ? answers.withLock { $0 } : [] })
        defer { harness.stop() }
        // Public at submission, loopback by delivery time.
        answers.withLock { $0 = [NetworkAddress(ipv4: "93.184.216.34")!] }
        let accepted = try harness.request("POST", "/v1/segmentations?steps=1&callback_url=http://hooks.test:\(port)/hook",
                                           headers: [("Content-Type", "image/png")], body: try pngBytes())
        XCTAssertEqual(accepted.status, 202, accepted.text)
        answers.withLock { $0 = [NetworkAddress(ipv4: "127.0.0.1")!] }
        let id = try XCTUnwrap(try harness.json(accepted)["id"] as? String)
        _ = try harness.finished(id)
        let deadline = Date(timeIntervalSinceNow: 10)
        while try harness.service.store.callbackAttempts(ofJob: id).isEmpty && Date() < deadline { usleep(10_000) }
        let first = try XCTUnwrap(try harness.service.store.callbackAttempts(ofJob: id).first)
        XCTAssertNil(first.status)
        XCTAssertTrue(first.error?.contains("127.0.0.1, which is not a public address") == true, first.error ?? "")
        XCTAssertEqual(receiver.waitFor(1, seconds: 0.5).count, 0, "nothing reached the loopback receiver")

        // Refused at submission: a name answering with any non-public address, literals of
        // loopback, private or metadata addresses, and names that do not resolve.
        for url in ["http://hooks.test:\(port)/hook", "http://[::1]:\(port)/", "http://169.254.169.254/latest", "http://nowhere.test/"] {
            let refused = try harness.request("POST", "/v1/segmentations?callback_url=\(url)", headers: [("Content-Type", "image/png")],
                                              body: try pngBytes())
            XCTAssertEqual(refused.status, 400, url)
        }
    }

    /// With loopback allowed, a delivery by name connects to the address it resolved to and
    /// keeps the name, with its port, in the Host field.
    func testADeliveryByNameKeepsItsHostField() throws {
        let receiver = try Receiver()
        defer { receiver.stop() }
        let port = receiver.server.localAddress!.port
        let harness = try ServiceHarness(.inProcess, configure: { c in
            self.allowing(&c)
            c.callbacks.allowedHosts = ["hooks.test"]
        }, resolve: { name in name == "hooks.test" ? [NetworkAddress(ipv4: "127.0.0.1")!] : [] })
        defer { harness.stop() }
        _ = try harness.submit(body: ("image/png", try pngBytes()), query: "?steps=1&callback_url=http://hooks.test:\(port)/hook")
        let got = receiver.waitFor(1)
        XCTAssertEqual(got.first?.headers["Host"], "hooks.test:\(port)")
        XCTAssertEqual(got.first?.path, "/hook")
    }

    func testPendingDeliveriesResumeAfterARestart() throws {
        let receiver = try Receiver()
        defer { receiver.stop() }
        receiver.answer { _ in 503 }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-callbacks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("jobs.sqlite").path
        let configure = { (c: inout ServiceConfiguration) in
            self.allowing(&c)
            c.callbacks.retryBase = 0.5
            c.databasePath = database
        }
        var harness = try ServiceHarness(.inProcess, configure: configure)
        let id = try harness.submit(body: ("image/png", try pngBytes()), query: "?callback_url=\(receiver.url)")["id"] as! String
        XCTAssertEqual(receiver.waitFor(1).count, 1)
        harness.stop()
        XCTAssertEqual(try JobStore(path: database).callback(ofJob: id)?.state, .pending, "still owed after the stop")

        receiver.answer { _ in 200 }
        harness = try ServiceHarness(.inProcess, configure: configure)
        defer { harness.stop() }
        let got = receiver.waitFor(2)
        XCTAssertEqual(got.count, 2)
        let deadline = Date(timeIntervalSinceNow: 5)
        while try harness.service.store.callback(ofJob: id)?.state != .delivered && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(try harness.service.store.callbackAttempts(ofJob: id).map(\.status), [503, 200])
    }

    func testCallbacksAreOffUnlessHostsAreListed() throws {
        let off = try ServiceHarness(.inProcess)
        let png = try pngBytes()
        let refused = try off.request("POST", "/v1/segmentations?callback_url=http://127.0.0.1:9/hook", headers: [("Content-Type", "image/png")],
                                      body: png)
        off.stop()
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.text.contains("callbacks are off"), refused.text)

        let on = try ServiceHarness(.inProcess, configure: allowing)
        defer { on.stop() }
        for (url, message) in [("http://169.254.169.254/latest", "not allowed"), ("ftp://127.0.0.1/x", "http:// or https://"),
                               ("http://user:pw@127.0.0.1/x", "user info")] {
            let answer = try on.request("POST", "/v1/segmentations?callback_url=\(url)", headers: [("Content-Type", "image/png")], body: png)
            XCTAssertEqual(answer.status, 400, url)
            XCTAssertTrue(answer.text.contains(message), answer.text)
        }
        XCTAssertThrowsError(try ServiceHarness(.inProcess) { $0.callbacks.allowedHosts = ["127.0.0.1"] }) {
            XCTAssertTrue("\($0)".contains("callbacks.secret"), "\($0)")
        }
    }
}
