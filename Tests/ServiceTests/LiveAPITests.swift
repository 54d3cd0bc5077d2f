import Foundation
import Imaging
import JobStore
@testable import Service
import TestSupport
import XCTest

/// The API over real sockets, with real jobs on the tiny model.
final class LiveAPITests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws { harness = try ServiceHarness() }
    override func tearDown() { harness.stop() }

    func testSegmentationEndToEnd() throws {
        let image = testImage()
        let response = try harness.request("POST", "/v1/segmentations?seed=3", headers: [("Content-Type", "image/png")],
                                           body: try pngBytes(image))
        XCTAssertEqual(response.status, 202, response.text)
        let job = try harness.json(response)
        let id = try XCTUnwrap(job["id"] as? String)
        XCTAssertEqual(response.headers["Location"], "/v1/jobs/\(id)")
        XCTAssertEqual(job["kind"] as? String, "segmentation")
        XCTAssertEqual((job["options"] as? [String: Any])?["seed"] as? Int, 3)

        let done = try harness.finished(id)
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        let progress = try XCTUnwrap(done["progress"] as? [String: Int])
        XCTAssertEqual(progress["step"], progress["steps"])
        XCTAssertNotNil(done["started_at"] as? String)
        XCTAssertTrue(done["error"] is NSNull)
        XCTAssertEqual((done["links"] as? [String: String])?["panoptic"], "/v1/jobs/\(id)/panoptic.png")

        let png = try harness.request("GET", "/v1/jobs/\(id)/panoptic.png")
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(png.headers["Content-Type"], "image/png")
        let panoptic = try PanopticPNG.decode(png.body)
        XCTAssertEqual([panoptic.width, panoptic.height], [image.width, image.height])

        let segments = try harness.json(try harness.request("GET", "/v1/jobs/\(id)/segments.json"))
        XCTAssertEqual(segments["width"] as? Int, image.width)
        let info = try XCTUnwrap(segments["segments_info"] as? [[String: Any]])
        var areas: [UInt32: Int] = [:]
        for id in panoptic.ids where id != 0 { areas[id, default: 0] += 1 }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: info.map { (UInt32($0["id"] as! Int), $0["area"] as! Int) }), areas)

        let overlay = try PNGCodec.decode(try harness.request("GET", "/v1/jobs/\(id)/overlay.png").body)
        XCTAssertEqual([overlay.width, overlay.height], [image.width, image.height])

        let head = try harness.request("HEAD", "/v1/jobs/\(id)/panoptic.png")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["Content-Length"], "\(png.body.count)")
        XCTAssertTrue(head.body.isEmpty)
    }

    func testSameSeedSameBytesAndPreferWait() throws {
        let body = multipart([("image", "image/png", try pngBytes()), ("options", "application/json", Array(#"{"seed": 11}"#.utf8))])
        var results: [[UInt8]] = []
        for _ in 0..<2 {
            let response = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", body.contentType), ("Prefer", "wait=30")],
                                               body: body.bytes)
            XCTAssertEqual(response.status, 200, "a job finished within the wait is answered 200")
            let job = try harness.json(response)
            XCTAssertEqual(job["state"] as? String, "succeeded")
            results.append(try harness.request("GET", "/v1/jobs/\(job["id"] as! String)/panoptic.png").body)
        }
        XCTAssertEqual(results[0], results[1])
    }

    func testEnsembledSegmentation() throws {
        let job = try harness.submit(body: ("image/png", try pngBytes()), query: "?ensemble_seeds=2&flip=true")
        XCTAssertEqual((job["options"] as? [String: Any])?["ensemble_seeds"] as? Int, 2)
        let done = try harness.finished(job["id"] as! String)
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        let progress = try XCTUnwrap(done["progress"] as? [String: Int])
        XCTAssertEqual(progress["steps"], 4 * 2 * 2, "steps of every ensemble run")
        XCTAssertEqual(progress["step"], progress["steps"])
    }

    func testInpaintingKeepsKnownPixels() throws {
        let image = testImage()
        var ids = [UInt32](repeating: 0, count: image.width * image.height)
        for y in 0..<20 { for x in 0..<image.width { ids[y * image.width + x] = x < 40 ? 500 : 77 } }
        let body = multipart([("image", "image/png", try pngBytes(image)),
                              ("mask", "image/png", try PanopticPNG.encode(ids: ids, width: image.width, height: image.height))])
        let job = try harness.submit("/v1/inpaintings", body: body)
        let done = try harness.finished(job["id"] as! String)
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        XCTAssertEqual(done["kind"] as? String, "inpainting")
        let result = try PanopticPNG.decode(try harness.request("GET", "/v1/jobs/\(job["id"] as! String)/panoptic.png").body)
        for i in ids.indices where ids[i] != 0 { XCTAssertEqual(result.ids[i], ids[i]) }
    }

    func testIdempotencyKey() throws {
        let png = try pngBytes()
        let headers = [("Content-Type", "image/png"), ("Idempotency-Key", "order-42")]
        let first = try harness.json(try harness.request("POST", "/v1/segmentations", headers: headers, body: png))
        let repeated = try harness.request("POST", "/v1/segmentations", headers: headers, body: png)
        XCTAssertTrue([200, 202].contains(repeated.status))
        XCTAssertEqual(try harness.json(repeated)["id"] as? String, first["id"] as? String)
        let other = try harness.request("POST", "/v1/segmentations?seed=5", headers: headers, body: png)
        XCTAssertEqual(other.status, 422)
        XCTAssertTrue(other.text.contains("idempotency-key-reused"), other.text)
        let list = try harness.json(try harness.request("GET", "/v1/jobs"))
        XCTAssertEqual((list["jobs"] as? [Any])?.count, 1)
    }

    func testCancelAndQueueFull() throws {
        harness.stop()
        harness = try ServiceHarness { $0.queue.maxQueued = 1 }
        let png = try pngBytes()
        // A long job keeps the one worker busy.
        let long = try harness.submit(body: ("image/png", png), query: "?steps=1000&resolution=256")
        let longID = long["id"] as! String
        _ = try harness.waitFor(longID) { $0["state"] as? String == "running" }
        let queued = try harness.submit(body: ("image/png", png))
        XCTAssertEqual(queued["queue_position"] as? Int, 0)
        let full = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")], body: png)
        XCTAssertEqual(full.status, 429)
        XCTAssertEqual(full.headers["Content-Type"], "application/problem+json")
        XCTAssertNotNil(Int(full.headers["Retry-After"] ?? ""), "Retry-After")

        let canceledQueued = try harness.json(try harness.request("DELETE", "/v1/jobs/\(queued["id"] as! String)"))
        XCTAssertEqual(canceledQueued["state"] as? String, "canceled")
        _ = try harness.request("DELETE", "/v1/jobs/\(longID)")
        let canceled = try harness.waitFor(longID) { $0["state"] as? String == "canceled" }
        XCTAssertEqual(canceled["state"] as? String, "canceled")
        XCTAssertLessThan(canceled["progress"].flatMap { ($0 as? [String: Int])?["step"] } ?? 1000, 1000)
        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(longID)").status, 409)
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(longID)/panoptic.png").status, 409)
        // The worker is free again.
        let after = try harness.submit(body: ("image/png", png))
        XCTAssertEqual(try harness.finished(after["id"] as! String)["state"] as? String, "succeeded")
    }

    func testErrorsAreProblems() throws {
        let png = try pngBytes()
        let cases: [(String, String, [(String, String)], [UInt8]?, Int)] = [
            ("GET", "/v1/jobs/nope", [], nil, 404),
            ("GET", "/v1/jobs/nope/panoptic.png", [], nil, 404),
            ("DELETE", "/v1/jobs/nope", [], nil, 404),
            ("GET", "/nothing-here", [], nil, 404),
            ("PUT", "/v1/jobs/x", [], [], 405),
            ("POST", "/v1/segmentations", [("Content-Type", "image/png")], nil, 411),
            ("POST", "/v1/segmentations", [("Content-Type", "text/plain")], png, 415),
            ("POST", "/v1/segmentations", [("Content-Type", "image/png")], Array(png.prefix(50)), 422),
            ("POST", "/v1/segmentations?steps=x", [("Content-Type", "image/png")], png, 400),
            ("POST", "/v1/segmentations", [("Content-Type", "image/png"), ("Idempotency-Key", String(repeating: "k", count: 300))], png, 400),
            ("GET", "/v1/jobs?limit=0", [], nil, 400),
            ("GET", "/v1/jobs?state=done", [], nil, 400),
            ("GET", "/v1/jobs?cursor=zzz", [], nil, 400),
            ("GET", "/v1/jobs?sort=asc", [], nil, 400),
        ]
        for (method, path, headers, body, status) in cases {
            let response = try harness.request(method, path, headers: headers, body: body)
            XCTAssertEqual(response.status, status, "\(method) \(path): \(response.text)")
            XCTAssertEqual(response.headers["Content-Type"], "application/problem+json", "\(method) \(path)")
            let problem = try harness.json(response)
            XCTAssertEqual(problem["status"] as? Int, status)
            XCTAssertFalse((problem["detail"] as? String ?? "").isEmpty)
        }
        XCTAssertEqual(try harness.request("PUT", "/v1/jobs/x", body: []).headers["Allow"], "DELETE, GET, HEAD")
    }

    func testBodyAndPixelLimits() throws {
        harness.stop()
        harness = try ServiceHarness {
            $0.server.maxBodyBytes = 20_000
            $0.model.maxPixels = 2_000
        }
        let tooBig = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")],
                                         body: [UInt8](repeating: 0, count: 30_000))
        XCTAssertEqual(tooBig.status, 413)
        let tooManyPixels = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")], body: try pngBytes())
        XCTAssertEqual(tooManyPixels.status, 413)
        XCTAssertTrue(tooManyPixels.text.contains("80x60 = 4800 pixels"), tooManyPixels.text)
    }

    func testRetentionDeletesFinishedJobs() throws {
        harness.stop()
        harness = try ServiceHarness {
            $0.retention.ttl = 0.5
            $0.retention.cleanupInterval = 0.1
        }
        let job = try harness.submit(body: ("image/png", try pngBytes()))
        let id = job["id"] as! String
        XCTAssertEqual(try harness.finished(id)["state"] as? String, "succeeded")
        let deadline = Date(timeIntervalSinceNow: 10)
        var status = 200
        while status == 200 && Date() < deadline {
            status = try harness.request("GET", "/v1/jobs/\(id)").status
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(status, 404, "a finished job is deleted once older than the TTL")
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(id)/panoptic.png").status, 404)
    }

    func testListingPages() throws {
        var ids: [String] = []
        for seed in 0..<3 { ids.append(try harness.submit(body: ("image/png", try pngBytes()), query: "?seed=\(seed)")["id"] as! String) }
        let first = try harness.json(try harness.request("GET", "/v1/jobs?limit=2"))
        XCTAssertEqual((first["jobs"] as? [[String: Any]])?.map { $0["id"] as! String }, [ids[2], ids[1]])
        let cursor = try XCTUnwrap(first["next_cursor"] as? String)
        let second = try harness.json(try harness.request("GET", "/v1/jobs?limit=2&cursor=\(cursor)"))
        XCTAssertEqual((second["jobs"] as? [[String: Any]])?.map { $0["id"] as! String }, [ids[0]])
        XCTAssertTrue(second["next_cursor"] is NSNull)
        let filtered = try harness.json(try harness.request("GET", "/v1/jobs?kind=inpainting"))
        XCTAssertEqual((filtered["jobs"] as? [Any])?.count, 0)
    }

    func testOperationalEndpoints() throws {
        XCTAssertEqual(try harness.json(try harness.request("GET", "/healthz"))["status"] as? String, "ok")
        XCTAssertEqual(try harness.json(try harness.request("GET", "/readyz"))["status"] as? String, "ready")
        let models = try harness.json(try harness.request("GET", "/v1/models"))
        let model = try XCTUnwrap((models["models"] as? [[String: Any]])?.first)
        XCTAssertEqual(model["name"] as? String, "tiny-random")
        XCTAssertEqual((model["defaults"] as? [String: Any])?["steps"] as? Int, 4)
        let openapi = try harness.request("GET", "/openapi.yaml")
        XCTAssertEqual(openapi.status, 200)
        XCTAssertTrue(openapi.text.hasPrefix("openapi: 3.1"))

        let job = try harness.submit(body: ("image/png", try pngBytes()))
        _ = try harness.finished(job["id"] as! String)
        let metrics = try harness.request("GET", "/metrics")
        XCTAssertTrue(metrics.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        for line in [#"segserve_http_requests_total{method="POST",route="/v1/segmentations",status="202"} 1"#,
                     #"segserve_jobs_submitted_total{kind="segmentation"} 1"#,
                     #"segserve_jobs_finished_total{kind="segmentation",outcome="succeeded"} 1"#,
                     #"segserve_jobs{state="succeeded"} 1.0"#, "segserve_queue_depth 0.0", "segserve_workers 1.0",
                     "segserve_ddim_step_seconds_count 4", #"segserve_job_run_seconds_count{kind="segmentation"} 1"#,
                     #"segserve_queue_wait_seconds_count{kind="segmentation"} 1"#] {
            XCTAssertTrue(metrics.text.contains(line + "\n"), "missing \(line)")
        }
        for name in ["segserve_http_request_duration_seconds_bucket", "segserve_database_size_bytes", "segserve_workers_busy",
                     "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"] {
            XCTAssertTrue(metrics.text.contains("\n\(name)"), "missing \(name)")
        }
    }

    func testDrainRequeuesRunningWorkAndRefusesNewWork() throws {
        let long = try harness.submit(body: ("image/png", try pngBytes()), query: "?steps=1000&resolution=256")
        let id = long["id"] as! String
        _ = try harness.waitFor(id) { $0["state"] as? String == "running" }
        let service = harness.service
        let stopped = DispatchSemaphore(value: 0)
        Task {
            await service.shutdown()
            stopped.signal()
        }
        // While draining (drain_timeout 2 s) the server still answers, but takes no new work.
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try harness.request("GET", "/readyz").status, 503)
        XCTAssertEqual(try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")], body: try pngBytes()).status, 503)
        XCTAssertEqual(stopped.wait(timeout: .now() + 20), .success)
        let store = try JobStore(path: harness.directory.appendingPathComponent("jobs.sqlite").path)
        let job = try XCTUnwrap(store.job(id: id))
        XCTAssertEqual(job.state, .queued, "interrupted by the drain, queued for the next start")
        XCTAssertEqual(job.attempts, 0, "an orderly stop does not use up an attempt")
        try store.close()
    }
}

extension ServiceHarness {
    func submit(body: (contentType: String, bytes: [UInt8]), query: String) throws -> [String: Any] {
        try submit("/v1/segmentations\(query)", body: body)
    }
}
