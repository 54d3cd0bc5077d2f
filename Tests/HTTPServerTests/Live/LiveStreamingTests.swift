import Foundation
import XCTest
import HTTPServer
import TestSupport

/// Streamed response bodies on real sockets: chunked on HTTP/1.1, close-delimited on HTTP/1.0,
/// and the producer cancelled when nobody reads.
final class LiveStreamingTests: XCTestCase {
    private var live: LiveServer!

    override func setUpWithError() throws { live = try LiveServer() }
    override func tearDown() { live.stop() }

    func testChunksArriveAsProducedAndTheConnectionIsKeptAlive() throws {
        let client = try live.client()
        try client.send("GET /stream?n=3 HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try client.readResponse(headOnly: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["Transfer-Encoding"], "chunked")
        XCTAssertNil(head.headers["Content-Length"])
        XCTAssertEqual(try (0..<3).map { _ in String(decoding: try client.readChunk(), as: UTF8.self) },
                       ["part 0\n", "part 1\n", "part 2\n"], "each yield is its own chunk")
        XCTAssertEqual(try client.readChunk(), [], "the last chunk")
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "hello")
    }

    func testHTTP10StreamEndsWithTheConnection() throws {
        let client = try live.client()
        try client.send("GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let head = try client.readResponse(headOnly: true)
        XCTAssertEqual(head.headers["Connection"], "close")
        XCTAssertNil(head.headers["Transfer-Encoding"])
        XCTAssertNil(head.headers["Content-Length"])
        XCTAssertEqual(String(decoding: try client.readToEnd(), as: UTF8.self), "part 0\npart 1\n")
    }

    func testAClientThatLeavesOrAsksOnlyTheHeadCancelsTheProducer() throws {
        let before = LiveServer.streamsCancelled.load(ordering: .sequentiallyConsistent)
        let client = try live.client()
        try client.send("GET /stream?n=1&forever=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try client.readResponse(headOnly: true)
        XCTAssertEqual(String(decoding: try client.readChunk(), as: UTF8.self), "part 0\n")
        client.close()
        let head = try live.client()
        try head.send("HEAD /stream?forever=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        let answer = try head.readResponse(bodyless: true)
        XCTAssertEqual(answer.headers["Transfer-Encoding"], "chunked")
        try head.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try head.readResponse().text, "hello", "no body bytes followed the HEAD answer")
        let deadline = Date(timeIntervalSinceNow: 5)
        while LiveServer.streamsCancelled.load(ordering: .sequentiallyConsistent) < before + 2 && Date() < deadline { usleep(2000) }
        XCTAssertEqual(LiveServer.streamsCancelled.load(ordering: .sequentiallyConsistent), before + 2)
    }
}
