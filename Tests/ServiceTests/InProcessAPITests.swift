import Foundation
import Imaging
import JobStore
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

/// The API in-process: each request goes straight to `SegmentationService.handle`, with real
/// jobs on the tiny model, so routes, validation, errors and job lifecycles are tested without
/// sockets or their timing.
final class InProcessAPITests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws { harness = try ServiceHarness(.inProcess) }
    override func tearDown() { harness.stop() }

    func testEnsembledSegmentation() throws {
        let job = try harness.submit(body: ("image/png", try pngBytes()), query: "?ensemble_seeds=2&flip=true")
        XCTAssertEqual((job["options"] as? [String: Any])?["ensemble_seeds"] as? Int, 2)
        XCTAssertEqual(job["image"] as? [String: Int], ["width": 80, "height": 60, "exif_orientation": 1])
        let done = try harness.finished(job["id"] as! String)
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        let progress = try XCTUnwrap(done["progress"] as? [String: Int])
        XCTAssertEqual(progress["steps"], 4 * 2 * 2, "steps of every ensemble run")
        XCTAssertEqual(progress["step"], progress["steps"])
    }

    /// Every segment has a score, segments.json says what the scores rest on, uncertainty.png
    /// covers the image, and min_score drops what it should (and is checked like any option).
    func testScoresUncertaintyAndMinScore() throws {
        let ensemble = try harness.finished(try harness.submit(body: ("image/png", try pngBytes()), query: "?ensemble_seeds=2&flip=false")["id"] as! String)
        let id = ensemble["id"] as! String
        let annotation = try harness.json(try harness.request("GET", "/v1/jobs/\(id)/segments.json"))
        let segments = try XCTUnwrap(annotation["segments_info"] as? [[String: Any]])
        XCTAssertFalse(segments.isEmpty)
        let scores = segments.map { $0["score"] as? Double ?? -1 }
        XCTAssertTrue(scores.allSatisfy { (0...1).contains($0) }, "\(scores)")
        let basis = try XCTUnwrap(annotation["scores"] as? [String: Any])
        XCTAssertEqual(basis["runs"] as? Int, 2)
        XCTAssertEqual(basis["features"] as? [String], ["confidence", "agreement"])
        XCTAssertEqual((ensemble["links"] as? [String: String])?["uncertainty"], "/v1/jobs/\(id)/uncertainty.png")
        let map = try harness.request("GET", "/v1/jobs/\(id)/uncertainty.png")
        XCTAssertEqual(map.status, 200)
        XCTAssertEqual(map.headers["Content-Type"], "image/png")
        let grey = try PNGCodec.decodeGray(map.body)
        XCTAssertEqual([grey.width, grey.height], [80, 60])
        XCTAssertGreaterThan(Set(grey.values).count, 1, "the model is surer in some places than in others")

        let single = try harness.finished(try harness.submit(body: ("image/png", try pngBytes()), query: "?ensemble_seeds=1&flip=false")["id"] as! String)
        let singleBasis = try harness.json(try harness.request("GET", "/v1/jobs/\(single["id"] as! String)/segments.json"))["scores"] as? [String: Any]
        XCTAssertEqual(singleBasis?["runs"] as? Int, 1)
        XCTAssertEqual(singleBasis?["features"] as? [String], ["confidence"])

        let threshold = try XCTUnwrap(scores.sorted().last)
        let strict = try harness.finished(try harness.submit(body: ("image/png", try pngBytes()),
                                                             query: "?ensemble_seeds=2&min_score=\(threshold)")["id"] as! String)
        XCTAssertEqual((strict["options"] as? [String: Any])?["min_score"] as? Double ?? 0, threshold, accuracy: 1e-6)
        let kept = try harness.json(try harness.request("GET", "/v1/jobs/\(strict["id"] as! String)/segments.json"))["segments_info"] as? [[String: Any]]
        XCTAssertEqual(kept?.count, scores.filter { $0 >= threshold }.count, "only the best-scored segments stay")
        let refused = try harness.request("POST", "/v1/segmentations?min_score=1.5", headers: [("Content-Type", "image/png")], body: try pngBytes())
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.text.contains("min_score"), refused.text)
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

        // min_score drops the model's new segments, never the client's own.
        let strict = multipart([("image", "image/png", try pngBytes(image)),
                                ("mask", "image/png", try PanopticPNG.encode(ids: ids, width: image.width, height: image.height)),
                                ("options", "application/json", Array("{\"min_score\": 1}".utf8))])
        let kept = try harness.finished(try harness.submit("/v1/inpaintings", body: strict)["id"] as! String)
        let keptIDs = try PanopticPNG.decode(try harness.request("GET", "/v1/jobs/\(kept["id"] as! String)/panoptic.png").body).ids
        for i in ids.indices where ids[i] != 0 { XCTAssertEqual(keptIDs[i], ids[i]) }
        XCTAssertEqual(Set(keptIDs).subtracting([0]), [500, 77], "only the known segments are left")
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
        harness = try ServiceHarness(.inProcess) { $0.queue.maxQueued = 2 }
        let png = try pngBytes()
        // A long job keeps the one worker busy.
        let long = try harness.submit(body: ("image/png", png), query: "?steps=1000&resolution=256")
        let longID = long["id"] as! String
        _ = try harness.waitFor(longID) { $0["state"] as? String == "running" }
        let queued = try harness.submit(body: ("image/png", png))
        XCTAssertEqual(queued["queue_position"] as? Int, 0)
        let second = try harness.submit(body: ("image/png", png), query: "?seed=9")
        XCTAssertEqual(second["queue_position"] as? Int, 1)
        let full = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")], body: png)
        XCTAssertEqual(full.status, 429)
        XCTAssertEqual(full.headers["Content-Type"], "application/problem+json")
        // No job has finished yet, so the estimate is the initial 5 s mean run time over one
        // worker: the wait for one place, not for the whole queue (2 x 5 s).
        XCTAssertEqual(full.headers["Retry-After"], "5")
        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(second["id"] as! String)").status, 200)

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
            ("POST", "/v1/segmentations", [("Content-Type", "image/jpeg")], [0xFF, 0xD8, 0xFF, 0x00], 422),
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

    func testRetentionDeletesFinishedJobs() throws {
        harness.stop()
        harness = try ServiceHarness(.inProcess) {
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
        // The ranges the API enforces, narrowed by the model and the configuration.
        let limits = try XCTUnwrap(model["limits"] as? [String: [String: Double]])
        XCTAssertEqual(limits["steps"], ["minimum": 1, "maximum": 1000])
        XCTAssertEqual(limits["resolution"], ["minimum": 64, "maximum": 1024, "multipleOf": 8])
        XCTAssertEqual(limits["mask_th"], ["exclusiveMinimum": 0, "exclusiveMaximum": 1])
        XCTAssertEqual(limits["seed"], ["minimum": 0])
        XCTAssertEqual(Set(limits.keys), ["steps", "seed", "resolution", "count_th", "ensemble_seeds", "mask_th", "overlap_th", "min_score",
                                            "deep_cache", "token_merging"])
        XCTAssertEqual(limits["token_merging"], ["minimum": 0, "maximum": 0.75])
        XCTAssertEqual((model["defaults"] as? [String: Any])?["deep_cache"] as? Int, 1)
        XCTAssertEqual((model["defaults"] as? [String: Any])?["token_merging"] as? Double, 0)
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

    /// Results, the contract and the page's files carry ETags; a revalidation that names one gets 304.
    func testRevalidationsAnswerNotModified() throws {
        harness.stop()
        harness = try ServiceHarness(.inProcess) { $0.webRoot = repositoryRoot.appendingPathComponent("web").path }
        let job = try harness.submit(body: ("image/png", try pngBytes()))
        let id = try XCTUnwrap(job["id"] as? String)
        _ = try harness.finished(id)
        for path in ["/v1/jobs/\(id)/panoptic.png", "/v1/jobs/\(id)/segments.json", "/openapi.yaml", "/", "/ui/app.js"] {
            let first = try harness.request("GET", path)
            XCTAssertEqual(first.status, 200, path)
            let tag = try XCTUnwrap(first.headers["ETag"], path)
            let again = try harness.request("GET", path, headers: [("If-None-Match", tag)])
            XCTAssertEqual(again.status, 304, path)
            XCTAssertEqual(again.body, [], path)
            XCTAssertEqual(again.headers["ETag"], tag, path)
            XCTAssertEqual(try harness.request("GET", path, headers: [("If-None-Match", "\"other\"")]).status, 200, path)
        }
        let missing = try harness.request("GET", "/v1/jobs/nope/panoptic.png", headers: [("If-None-Match", "*")])
        XCTAssertEqual(missing.status, 404, "a job the store does not hold is not 'not modified'")
    }

    /// With a batch delay, the workers' jobs go through the shared batcher, whose passes the
    /// metrics count; each job still reports its own steps.
    func testWorkersShareUNetPassesThroughTheBatcher() throws {
        let shared = try ServiceHarness(.inProcess) {
            $0.workers.count = 2
            $0.workers.maxBatchDelayMilliseconds = 200
        }
        defer { shared.stop() }
        let ids = try (0..<4).map { _ in try shared.submit(body: ("image/png", try pngBytes()))["id"] as! String }
        for id in ids {
            let done = try shared.finished(id)
            XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
            XCTAssertEqual((done["progress"] as? [String: Int])?["step"], 4)
        }
        let metrics = try shared.request("GET", "/metrics").text
        // 4 jobs of 4 steps of one run: 16 maps, in 8 to 16 passes.
        XCTAssertTrue(metrics.contains("segserve_unet_pass_maps_sum 16.0\n"), metrics)
        let passes = try XCTUnwrap(metrics.split(separator: "\n").first { $0.hasPrefix("segserve_unet_pass_jobs_count ") })
        XCTAssertTrue((8...16).contains(Int(Double(passes.split(separator: " ")[1])!)), String(passes))
    }

    /// Camera and editor JPEGs are served; cut or malformed ones are 422 naming the fault.
    func testJPEGKinds() throws {
        let fixtures = repositoryRoot.appendingPathComponent("Tests/ImagingTests/Fixtures")
        let jpeg = { (name: String) in [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }
        for name in ["baseline.jpg", "progressive.jpg", "cmyk.jpg", "gray.jpg"] {
            let job = try harness.submit(body: ("image/jpeg", try jpeg(name)))
            XCTAssertEqual(try harness.finished(job["id"] as! String)["state"] as? String, "succeeded", name)
        }
        let baseline = try jpeg("baseline.jpg")
        for (bytes, detail) in [(Array(baseline.prefix(baseline.count * 2 / 3)), "truncated JPEG"),
                                (Array(baseline.prefix(2)) + baseline, "two SOI markers")] {
            let response = try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/jpeg")], body: bytes)
            XCTAssertEqual(response.status, 422, response.text)
            XCTAssertTrue(response.text.contains(detail), response.text)
        }
    }

    func testJobLimits() throws {
        harness.stop()
        harness = try ServiceHarness(.inProcess) {
            $0.limits.maxResolution = 512
            $0.limits.maxJobCost = 100_000
            $0.limits.jobTimeout = 0.2
        }
        let png = try pngBytes()
        for (query, named) in [("?resolution=1024", "limits.max_resolution"), ("?steps=200&resolution=256", "limits.max_job_cost")] {
            let response = try harness.request("POST", "/v1/segmentations\(query)", headers: [("Content-Type", "image/png")], body: png)
            XCTAssertEqual(response.status, 400, query)
            XCTAssertTrue(response.text.contains(named) && response.text.contains("/problems/over-limit"), response.text)
        }
        // 90 steps at 256: within the cost limit, but longer than the 0.2 s a job may run here.
        let slow = try harness.submit(body: ("image/png", png), query: "?steps=90&resolution=256")
        let failed = try harness.finished(slow["id"] as! String)
        XCTAssertEqual(failed["state"] as? String, "failed", "\(failed)")
        let error = try XCTUnwrap(failed["error"] as? [String: Any])
        XCTAssertEqual(error["type"] as? String, "/problems/job-timeout", "\(error)")
        XCTAssertTrue((error["detail"] as? String ?? "").contains("limits.job_timeout"), "\(error)")
    }

    /// Whatever method tokens clients invent, the request counter has a bounded set of labels.
    func testMetricsLabelsStayBounded() throws {
        for i in 0..<20 { _ = try harness.request("X-METHOD-\(i)-" + String(repeating: "A", count: 200), "/v1/jobs/\(i)") }
        let metrics = try harness.request("GET", "/metrics").text
        XCTAssertFalse(metrics.contains("X-METHOD"))
        XCTAssertTrue(metrics.contains(#"segserve_http_requests_total{method="other",route="unmatched",status="405"} 20"#), metrics)
    }

    func testHostsCrossOriginAndSecurityHeaders() throws {
        let png = try pngBytes()
        let image = [("Content-Type", "image/png")]
        let rebound = try harness.request("GET", "/v1/jobs", headers: [("Host", "evil.example")])
        XCTAssertEqual(rebound.status, 400)
        XCTAssertTrue(rebound.text.contains("host-not-allowed"), rebound.text)
        XCTAssertEqual(try harness.request("GET", "/healthz", headers: [("Host", "localhost:8080")]).status, 200)
        XCTAssertEqual(try harness.request("GET", "/healthz", headers: [("Host", "[::1]:8080")]).status, 200)
        // An absolute-form target names the host in Host's place (RFC 9112 §3.2.2).
        let absolute = try harness.request("GET", "http://evil.example/v1/jobs", headers: [("Host", "127.0.0.1")])
        XCTAssertEqual(absolute.status, 400)
        XCTAssertTrue(absolute.text.contains("host-not-allowed"), absolute.text)
        XCTAssertEqual(try harness.request("GET", "http://localhost:8080/healthz", headers: [("Host", "evil.example")]).status, 200)
        for headers in [[("Host", "127.0.0.1:8080"), ("Origin", "https://evil.example")], [("Sec-Fetch-Site", "cross-site")],
                        [("Host", "127.0.0.1:8080"), ("Origin", "null")]] {
            let response = try harness.request("POST", "/v1/segmentations", headers: image + headers, body: png)
            XCTAssertEqual(response.status, 403, "\(headers)")
            XCTAssertTrue(response.text.contains("/problems/cross-origin"), response.text)
        }
        let sameOrigin = try harness.request("POST", "/v1/segmentations", headers: image + [("Host", "127.0.0.1:8080"),
                                             ("Origin", "http://127.0.0.1:8080"), ("Sec-Fetch-Site", "same-origin")], body: png)
        XCTAssertEqual(sameOrigin.status, 202, sameOrigin.text)
        for response in [rebound, sameOrigin, try harness.request("GET", "/metrics")] {
            XCTAssertEqual(response.headers["X-Content-Type-Options"], "nosniff")
            XCTAssertTrue(response.headers["Content-Security-Policy"]?.contains("frame-ancestors 'none'") == true)
        }
    }

    /// A 500 names a reference for the log, never the error's own text.
    func testInternalErrorsCarryAReferenceOnly() throws {
        try harness.service.store.close()
        let response = try harness.request("GET", "/v1/jobs")
        XCTAssertEqual(response.status, 500)
        let detail = try XCTUnwrap(try harness.json(response)["detail"] as? String)
        XCTAssertTrue(detail.hasPrefix("an internal error occurred; reference "), detail)
        XCTAssertFalse(detail.lowercased().contains("sqlite") || detail.contains("database"), detail)
    }

    /// With keys configured: no key is 401, each key sees only its own jobs (another's are 404),
    /// an admin key sees all, and per-key quotas answer 429.
    func testAPIKeysOwnJobsAndQuotas() throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-keys-\(UUID().uuidString).yaml")
        addTeardownBlock { try? FileManager.default.removeItem(at: keys) }
        // SHA-256 of "alice-secret", "bob-secret", "admin-secret", "carol-secret".
        try """
            - {name: alice, sha256: 0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376, max_active: 1}
            - {name: bob, sha256: 9f03ef1533a68d2f506f81ef463c1183a82a6bd40e45613f36e6fe1889cf1b99, jobs_per_minute: 2}
            - {name: admin, sha256: 16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01, admin: true}
            - {name: carol, sha256: 9e1d0a638ff9fd18986d8057aef3c36871aa54b27a6fcc6411fb32f8325675e2, cost_per_minute: 2000}
            """.write(to: keys, atomically: true, encoding: .utf8)
        harness.stop()
        harness = try ServiceHarness(.inProcess) { $0.authKeysFile = keys.path }
        let png = try pngBytes()
        func bearer(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)-secret")] }
        let image = [("Content-Type", "image/png")]

        let anonymous = try harness.request("POST", "/v1/segmentations", headers: image, body: png)
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous.headers["WWW-Authenticate"], "Bearer realm=\"segserve\"")
        XCTAssertEqual(try harness.request("GET", "/v1/jobs", headers: bearer("mallory")).status, 401)
        XCTAssertEqual(try harness.request("GET", "/healthz").status, 200, "probes need no key")

        let long = try harness.json(try harness.request("POST", "/v1/segmentations?steps=1000&resolution=256", headers: image + bearer("alice"), body: png))
        let aliceJob = try XCTUnwrap(long["id"] as? String)
        let quota = try harness.request("POST", "/v1/segmentations", headers: image + bearer("alice"), body: png)
        XCTAssertEqual(quota.status, 429, quota.text)
        XCTAssertTrue(quota.text.contains("/problems/quota-exceeded"), quota.text)

        for path in ["/v1/jobs/\(aliceJob)", "/v1/jobs/\(aliceJob)/panoptic.png"] {
            XCTAssertEqual(try harness.request("GET", path, headers: bearer("bob")).status, 404, path)
        }
        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(aliceJob)", headers: bearer("bob")).status, 404)
        XCTAssertEqual((try harness.json(try harness.request("GET", "/v1/jobs", headers: bearer("bob")))["jobs"] as? [Any])?.count, 0)
        XCTAssertEqual((try harness.json(try harness.request("GET", "/v1/jobs", headers: bearer("alice")))["jobs"] as? [Any])?.count, 1)
        XCTAssertEqual((try harness.json(try harness.request("GET", "/v1/jobs", headers: bearer("admin")))["jobs"] as? [Any])?.count, 1)
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(aliceJob)", headers: bearer("admin")).status, 200)

        for _ in 0..<3 {  // refused submissions do not count toward the rate
            XCTAssertEqual(try harness.request("POST", "/v1/segmentations?steps=0", headers: image + bearer("bob"), body: png).status, 400)
        }
        // An idempotency key is the caller's own: bob's "k" is not alice's "k".
        let keyed = [("Idempotency-Key", "k")]
        XCTAssertEqual(try harness.request("POST", "/v1/segmentations?seed=1", headers: image + bearer("bob") + keyed, body: png).status, 202)
        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(aliceJob)", headers: bearer("alice")).status, 200)
        XCTAssertEqual(try harness.request("POST", "/v1/segmentations?seed=2", headers: image + bearer("alice") + keyed, body: png).status, 202)
        XCTAssertEqual(try harness.request("POST", "/v1/segmentations?seed=3", headers: image + bearer("bob"), body: png).status, 202)
        let limited = try harness.request("POST", "/v1/segmentations?seed=4", headers: image + bearer("bob"), body: png)
        XCTAssertEqual(limited.status, 429, "bob may submit 2 a minute")
        XCTAssertTrue(limited.text.contains("/problems/rate-limited"), limited.text)
        XCTAssertNotNil(Int(limited.headers["Retry-After"] ?? ""))

        // A job's pixels count toward cost_per_minute: a megapixel image (cost 64 + 7,812) is let
        // in on a full allowance of 2,000 and leaves it in debt, so a small job must wait.
        let cheap = "/v1/segmentations?steps=1&resolution=64&ensemble_seeds=1&flip=false"
        let large = try PNGCodec.encode(testImage(width: 1000, height: 1000))
        let big = try harness.request("POST", cheap, headers: image + bearer("carol"), body: large)
        XCTAssertEqual(big.status, 202, big.text)
        let paying = try harness.request("POST", cheap + "&seed=5", headers: image + bearer("carol"), body: png)
        XCTAssertEqual(paying.status, 429, paying.text)
        XCTAssertTrue(paying.text.contains("cost_per_minute"), paying.text)
        XCTAssertGreaterThan(Int(paying.headers["Retry-After"] ?? "") ?? 0, 60, "the debt takes minutes to pay off")
    }
}

/// Bounds on what one key may hold, without sockets.
final class KeyBoundsTests: XCTestCase {
    func testEventStreamSlotsAreBoundedInTotalPerKeyAndPerJob() {
        let slots = StreamSlots(limits: .init(total: 5, perKey: 2, perJob: 3))
        XCTAssertNil(slots.claim(key: "b", job: "j1"))
        XCTAssertNil(slots.claim(key: "b", job: "j2"))
        XCTAssertEqual(slots.claim(key: "b", job: "j3"), .key, "b holds its two")
        XCTAssertNil(slots.claim(key: "a", job: "j1"))
        XCTAssertNil(slots.claim(key: nil, job: "j1"))
        XCTAssertEqual(slots.claim(key: nil, job: "j1"), .job, "j1 has its three")
        XCTAssertNil(slots.claim(key: nil, job: "j4"))
        XCTAssertEqual(slots.claim(key: "c", job: "j5"), .total)
        slots.release(key: "b", job: "j1")
        XCTAssertNil(slots.claim(key: "b", job: "j1"), "a released slot is free again")
    }

    func testRefusedSubmissionsGiveTheirRateTokenBack() {
        let limiter = RateLimiter()
        let now = Date()
        XCTAssertNil(limiter.take("k", perMinute: 2, now: now))
        limiter.refund("k")
        XCTAssertNil(limiter.take("k", perMinute: 2, now: now))
        XCTAssertNil(limiter.take("k", perMinute: 2, now: now))
        XCTAssertNotNil(limiter.take("k", perMinute: 2, now: now))
        limiter.refund("k")
        limiter.refund("k")
        limiter.refund("k")
        XCTAssertNil(limiter.take("k", perMinute: 2, now: now))
        XCTAssertNil(limiter.take("k", perMinute: 2, now: now))
        XCTAssertNotNil(limiter.take("k", perMinute: 2, now: now), "refunds never raise the allowance")
    }
}

/// `GET /v1/jobs/{id}/events` in-process: the event sequence of a job that waits, runs and ends.
final class JobEventsTests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws { harness = try ServiceHarness(.inProcess) }
    override func tearDown() { harness.stop() }

    /// (id, event, data) of each event in a text/event-stream body.
    func events(_ text: String) -> [(id: Int, event: String, data: String)] {
        text.components(separatedBy: "\n\n").compactMap { block in
            var id: Int?, event = "", data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            return id.map { ($0, event, data) }
        }
    }

    func testAQueuedJobReportsItsPlaceItsStepsAndItsEnd() throws {
        let png = try pngBytes()
        let long = try harness.submit(body: ("image/png", png), query: "?steps=150")
        let job = try harness.submit(body: ("image/png", png), query: "?steps=30&seed=1")
        let id = job["id"] as! String
        let response = try harness.request("GET", "/v1/jobs/\(id)/events")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["Content-Type"], "text/event-stream; charset=utf-8")
        XCTAssertTrue(response.text.hasPrefix("retry: 2000\n\n"), response.text)
        let seen = events(response.text)
        XCTAssertEqual(seen.first?.event, "queued", response.text)
        XCTAssertEqual(seen.first?.data, "{\"position\":0}", "next in line (the running job is not queued)")
        // Each wake-up reports the latest stored step (stored every 250 ms, so most are
        // skipped; 0 when the stream looks between the start and the first record); ids only grow.
        let progress = seen.filter { $0.event == "progress" }
        XCTAssertFalse(progress.isEmpty, response.text)
        XCTAssertEqual(progress.map(\.id), progress.map(\.id).sorted(), "ids grow")
        XCTAssertEqual(Set(progress.map(\.id)).count, progress.count, "no step twice")
        XCTAssertTrue(progress.allSatisfy { (1...31).contains($0.id) && $0.data.hasSuffix(",\"steps\":30}") }, response.text)
        let done = try XCTUnwrap(seen.last)
        XCTAssertEqual(done.event, "done")
        XCTAssertEqual(done.id, 32, "steps + 2")
        let final = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(done.data.utf8)) as? [String: Any])
        XCTAssertEqual(final["state"] as? String, "succeeded")
        XCTAssertEqual(final["id"] as? String, id)
        XCTAssertEqual(try harness.finished(long["id"] as! String)["state"] as? String, "succeeded")

        // Resuming: only what comes after the last event seen, and 204 (stop) after the end.
        let resumed = try harness.request("GET", "/v1/jobs/\(id)/events", headers: [("Last-Event-ID", "3")])
        XCTAssertEqual(events(resumed.text).map(\.event), ["done"])
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(id)/events", headers: [("Last-Event-ID", "32")]).status, 204)
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/nope/events").status, 404)
    }
}
