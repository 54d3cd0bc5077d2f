import Foundation
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

final class JobViewCacheTests: XCTestCase {
    private func view(_ text: String, terminal: Bool = true) -> JobViewCache.View {
        .init(owner: nil, isTerminal: terminal, body: Array(text.utf8))
    }

    /// A view read before a change is not kept: a poll racing a step must not pin the old step.
    func testAViewReadBeforeAChangeIsDropped() {
        let cache = JobViewCache()
        let before = cache.generation
        cache.invalidate("other")
        cache.store(view("stale"), of: "a", readAt: before)
        XCTAssertNil(cache.view(of: "a"))
        cache.store(view("fresh"), of: "a", readAt: cache.generation)
        XCTAssertEqual(cache.view(of: "a")?.body, Array("fresh".utf8))
        cache.invalidate("a")
        XCTAssertNil(cache.view(of: "a"))
    }

    func testCapacityAndBulkInvalidation() {
        let cache = JobViewCache(capacity: 2)
        for id in ["a", "b", "c"] { cache.store(view(id), of: id, readAt: cache.generation) }
        XCTAssertNil(cache.view(of: "a"), "a full cache starts over")
        XCTAssertNotNil(cache.view(of: "c"))
        cache.invalidateAll()
        XCTAssertNil(cache.view(of: "c"))
    }

    /// Through the API: a finished job's polls come from memory, byte-identical to the first
    /// answer; queued jobs are never kept, and a cancel reaches the running job's worker.
    func testPollsOfFinishedJobsComeFromMemory() throws {
        let harness = try ServiceHarness(.inProcess)
        defer { harness.stop() }
        let png = try pngBytes()
        let long = try harness.submit(body: ("image/png", png), query: "?steps=1000&resolution=256")
        let longID = long["id"] as! String
        let queued = try harness.submit(body: ("image/png", png))
        let queuedID = queued["id"] as! String
        _ = try harness.request("GET", "/v1/jobs/\(queuedID)")
        XCTAssertNil(harness.service.api.views.view(of: queuedID), "a queued job's position moves with others")
        _ = try harness.waitFor(longID) { ($0["progress"] as? [String: Int])?["step"] ?? 0 > 0 }
        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(longID)").status, 200)
        XCTAssertEqual(try harness.waitFor(longID) { $0["state"] as? String == "canceled" }["state"] as? String, "canceled")
        let first = try harness.request("GET", "/v1/jobs/\(longID)")
        XCTAssertNotNil(harness.service.api.views.view(of: longID))
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(longID)").body, first.body)
        XCTAssertEqual(try harness.finished(queuedID)["state"] as? String, "succeeded")
    }
}
