import HTTPServer
import JobStore
@testable import Service
import XCTest

final class RouteTests: XCTestCase {
    func route(_ method: HTTPMethod, _ path: String) -> Route? { try? Route.match(method: method, path: path).get().route }

    func testEveryEndpoint() {
        XCTAssertEqual(route(.post, "/v1/segmentations"), .createSegmentation)
        XCTAssertEqual(route(.post, "/v1/inpaintings"), .createInpainting)
        XCTAssertEqual(route(.get, "/v1/jobs"), .listJobs)
        XCTAssertEqual(route(.get, "/v1/jobs/abc"), .getJob(id: "abc"))
        XCTAssertEqual(route(.delete, "/v1/jobs/abc"), .cancelJob(id: "abc"))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/panoptic.png"), .result(id: "abc", part: .panopticPNG))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/segments.json"), .result(id: "abc", part: .segmentsJSON))
        XCTAssertEqual(route(.get, "/v1/jobs/abc/overlay.png"), .result(id: "abc", part: .overlayPNG))
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
}
