import HTTPServer
import JobStore
@testable import API
@testable import ServiceCore
import TestSupport
import XCTest

final class RouteTests: XCTestCase {
    func route(_ method: HTTPMethod, _ path: String) -> Route? { try? Route.match(method: method, path: path).get().route }

    func testEveryEndpoint() {
        XCTAssertEqual(route(.post, "/v1/segmentations"), .createSegmentation)
        XCTAssertEqual(route(.post, "/v1/inpaintings"), .createInpainting)
        XCTAssertEqual(route(.get, "/v1/jobs"), .listJobs)
        XCTAssertEqual(route(.get, "/v1/jobs/abc"), .getJob(id: "abc"))
        XCTAssertEqual(route(.delete, "/v1/jobs/abc"), .cancelJob(id: "abc"))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/panoptic.png"), .result(id: "abc", file: .panopticPNG))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/segments.json"), .result(id: "abc", file: .segmentsJSON))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/overlay.png"), .result(id: "abc", file: .overlayPNG))
        XCTAssertEqual(route(.get, "/v1/models"), .listModels)
        XCTAssertEqual(route(.get, "/healthz"), .health)
        XCTAssertEqual(route(.get, "/readyz"), .ready)
        XCTAssertEqual(route(.get, "/metrics"), .metrics)
        XCTAssertEqual(route(.get, "/openapi.yaml"), .openAPI)
        XCTAssertEqual(route(.head, "/v1/jobs/abc"), .getJob(id: "abc"))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/events"), .jobEvents(id: "abc"))
        XCTAssertEqual(route(.get, "/"), .page(file: "index.html"))
        XCTAssertEqual(route(.get, "/ui/app.js"), .page(file: "app.js"))
    }

    func testTemplatesNameRoutesNotIDs() throws {
        XCTAssertEqual(try Route.match(method: .get, path: "/v1/jobs/abc").get().template, "/v1/jobs/{id}")
        XCTAssertEqual(try Route.match(method: .get, path: "/v1/jobs/abc/overlay.png").get().template, "/v1/jobs/{id}/overlay.png")
        XCTAssertEqual(try Route.match(method: .get, path: "/ui/app.css").get().template, "/ui/{file}")
    }

    func testUnknownPathsAre404() {
        for path in ["/ui", "/ui/", "/ui/a/b", "/v1", "/v1/jobs/", "/v1/jobs//panoptic.png", "/v1/jobs/a/other.png", "/v1/jobs/a/b/c", "/v2/jobs", "/healthz/x"] {
            guard case .failure(let error) = Route.match(method: .get, path: path) else { return XCTFail(path) }
            XCTAssertEqual(error.status.code, 404, path)
        }
    }

    func testWrongMethodIs405WithAllow() {
        guard case .failure(let error) = Route.match(method: .put, path: "/v1/jobs/abc") else { return XCTFail() }
        XCTAssertEqual(error.status.code, 405)
        XCTAssertEqual(error.headers["Allow"], "DELETE, GET, HEAD")
        guard case .failure(let post) = Route.match(method: .get, path: "/v1/segmentations") else { return XCTFail() }
        XCTAssertEqual(post.headers["Allow"], "POST")
    }

    /// The host a request is addressed to: an absolute-form target's authority over Host, and
    /// none at all (HTTP/1.0 may omit Host) refused wherever hosts are checked.
    func testRequestGuardChecksTheHostTheRequestIsAddressedTo() {
        let loopback = RequestGuard(configured: [], boundHost: "127.0.0.1")
        func refused(_ guardian: RequestGuard, _ target: String, _ headers: HTTPHeaders, _ version: HTTPVersion = .http1_1) -> Bool {
            do { try guardian.check(HTTPRequest(method: .get, target: target, version: version, headers: headers)); return false } catch { return true }
        }
        XCTAssertFalse(refused(loopback, "/healthz", ["Host": "localhost"]))
        XCTAssertTrue(refused(loopback, "/healthz", [:], .http1_0))
        XCTAssertTrue(refused(loopback, "http://evil.example/healthz", ["Host": "localhost"]))
        XCTAssertFalse(refused(loopback, "http://127.0.0.1:8080/healthz", ["Host": "evil.example"]))
        let any = RequestGuard(configured: ["*"], boundHost: "0.0.0.0")
        XCTAssertFalse(refused(any, "/healthz", [:], .http1_0))
        XCTAssertEqual(HTTPRequest(method: .get, target: "https://a.example:8443?x=1").authority, "a.example:8443")
    }
}
