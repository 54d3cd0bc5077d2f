import Foundation
import Imaging
import JobStore
import Synchronization
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

/// The API over real sockets, with real jobs on the tiny model: what needs a socket (framing,
/// HEAD, body limits, `Prefer: wait` on a connection, drain). The rest is in `APITests`.
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
        let deadline = Date(timeIntervalSinceNow: 10)
        var ready = 200
        while ready == 200 && Date() < deadline { ready = try harness.request("GET", "/readyz").status }
        XCTAssertEqual(ready, 503)
        XCTAssertEqual(try harness.request("POST", "/v1/segmentations", headers: [("Content-Type", "image/png")], body: try pngBytes()).status, 503)
        XCTAssertEqual(stopped.wait(timeout: .now() + 20), .success)
        let store = try JobStore(path: harness.directory.appendingPathComponent("jobs.sqlite").path)
        let job = try XCTUnwrap(store.job(id: id))
        XCTAssertEqual(job.state, .queued, "interrupted by the drain, queued for the next start")
        XCTAssertEqual(job.attempts, 0, "an orderly stop does not use up an attempt")
        try store.close()
    }

    /// A second stop while draining sends the running job back to the queue at once, without
    /// spending an attempt; a client waiting on a job is answered before the connection closes.
    func testSecondStopRequeuesAtOnceAndWaitersAreAnswered() throws {
        harness.stop()
        harness = try ServiceHarness { $0.drainTimeout = 60 }
        let long = try harness.submit(body: ("image/png", try pngBytes()), query: "?steps=1000&resolution=256")
        let id = long["id"] as! String
        _ = try harness.waitFor(id) { $0["state"] as? String == "running" }
        let queued = try harness.submit(body: ("image/png", try pngBytes()), query: "?seed=4")["id"] as! String
        let port = harness.port
        let waiting = DispatchQueue(label: "waiter")
        let answered = DispatchSemaphore(value: 0)
        let answer = Mutex<(status: Int, body: [UInt8])?>(nil)
        waiting.async {
            let response = try? httpRequest(port: port, "GET", "/v1/jobs/\(queued)", headers: [("Prefer", "wait=60")])
            answer.withLock { $0 = response.map { ($0.status, $0.body) } }
            answered.signal()
        }
        let service = harness.service
        let first = DispatchSemaphore(value: 0), second = DispatchSemaphore(value: 0)
        Task { await service.shutdown(); first.signal() }
        let deadline = Date(timeIntervalSinceNow: 10)
        while (try? harness.request("GET", "/readyz").status) == 200 && Date() < deadline {}
        let started = Date()
        Task { await service.shutdown(); second.signal() }
        XCTAssertEqual(second.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(first.wait(timeout: .now() + 1), .success, "both calls return once stopped")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "the second stop did not wait out the 60 s drain")
        XCTAssertEqual(answered.wait(timeout: .now() + 10), .success)
        let response = try XCTUnwrap(answer.withLock { $0 }, "the waiting client got no answer")
        XCTAssertEqual(response.status, 200)
        let waited = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        XCTAssertEqual(waited["state"] as? String, "queued")
        let store = try JobStore(path: harness.directory.appendingPathComponent("jobs.sqlite").path)
        let job = try XCTUnwrap(store.job(id: id))
        XCTAssertEqual(job.state, .queued)
        XCTAssertEqual(job.attempts, 0)
        try store.close()
    }

}

extension ServiceHarness {
    func submit(body: (contentType: String, bytes: [UInt8]), query: String) throws -> [String: Any] {
        try submit("/v1/segmentations\(query)", body: body)
    }
}

/// Event streams over real sockets: chunked delivery as the job changes, the stream limit, and
/// the stream's end when its job is canceled.
final class LiveJobEventsTests: XCTestCase {
    func testStreamsAreBoundedAndEndWithTheirJob() throws {
        let harness = try ServiceHarness { $0.server.maxEventStreams = 1 }
        defer { harness.stop() }
        let long = try harness.submit(body: ("image/png", try pngBytes()), query: "?steps=1000")
        let id = long["id"] as! String
        let client = try TestClient(port: harness.port, timeout: 30)
        try client.send("GET /v1/jobs/\(id)/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let head = try client.readResponse(headOnly: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["Transfer-Encoding"], "chunked")
        var text = ""
        while !text.contains("event: progress") { text += String(decoding: try client.readChunk(), as: UTF8.self) }

        let refused = try httpRequest(port: harness.port, "GET", "/v1/jobs/\(id)/events")
        XCTAssertEqual(refused.status, 503, "one stream at most")
        XCTAssertNotNil(refused.headers["Retry-After"])

        XCTAssertEqual(try harness.request("DELETE", "/v1/jobs/\(id)").status, 200)
        while case let chunk = try client.readChunk(), !chunk.isEmpty { text += String(decoding: chunk, as: UTF8.self) }
        XCTAssertTrue(text.contains("event: done\ndata: {") && text.contains("\"state\":\"canceled\""), text)
        // The slot is free again; the ended job has nothing more after its last event.
        let last = try XCTUnwrap(text.components(separatedBy: "id: ").last?.prefix { $0.isNumber })
        let after = try httpRequest(port: harness.port, "GET", "/v1/jobs/\(id)/events", headers: [("Last-Event-ID", String(last))])
        XCTAssertEqual(after.status, 204)
    }
}
