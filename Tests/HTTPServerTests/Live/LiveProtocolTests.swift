import XCTest
import HTTPServer
import TestSupport

/// Real sockets on 127.0.0.1: framing, keep-alive, pipelining, 100-continue, HEAD and closing.
final class LiveProtocolTests: XCTestCase {
    private var live: LiveServer!

    override func setUpWithError() throws { live = try LiveServer() }
    override func tearDown() { live.stop() }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let client = try live.client()
        for _ in 0..<3 {
            try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "hello")
            XCTAssertNil(response.headers["Connection"])
            XCTAssertNotNil(response.headers["Date"])
        }
        try client.send("GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "127.0.0.1")
    }

    func testPipelinedResponsesKeepRequestOrderEvenWhenTheFirstIsSlowest() throws {
        let client = try live.client()
        try client.send("GET /sleep?ms=200 HTTP/1.1\r\nHost: t\r\n\r\nGET /sleep?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"
            + "POST /echo-size HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcdeGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try (0..<4).map { _ in try client.readResponse().text }, ["slept 200", "slept 0", "5", "hello"])
    }

    /// Requests answered on the event loop keep their place among pipelined handler requests.
    func testImmediateAnswersKeepPipelineOrder() throws {
        let client = try live.client()
        try client.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\nGET /sleep?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"
            + "GET /fast HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try (0..<5).map { _ in try client.readResponse().text }, ["fast", "slept 100", "fast", "fast", "hello"])
        for _ in 0..<3 {
            try client.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try client.readResponse().text, "fast")
        }
    }

    func testExpectContinueGetsInterimResponseBeforeTheBody() throws {
        let client = try live.client()
        try client.send("PUT /echo-size HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 100)
        try client.send("data")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "4")
    }

    func testExpectContinueWithTooLargeBodyIsRejectedWithoutContinue() throws {
        live.stop()
        live = try LiveServer { $0.limits.maxBodyBytes = 100 }
        let client = try live.client()
        try client.send("PUT /echo-size HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertTrue(client.isClosedByServer())
    }

    func testHeadSendsTheGetLengthWithoutBody() throws {
        let client = try live.client()
        try client.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try client.readResponse(bodyless: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["Content-Length"], "5")
        XCTAssertEqual(try client.readResponse().text, "hello", "no stray body bytes precede the next response")
    }

    func testConnectionCloseFromClientAndFromHandler() throws {
        let client = try live.client()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertTrue(client.isClosedByServer())

        let second = try live.client()
        try second.send("GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try second.readResponse().headers["Connection"], "close")
        XCTAssertTrue(second.isClosedByServer())
    }

    func testHTTP10ClosesUnlessKeepAliveIsAsked() throws {
        let client = try live.client()
        try client.send("GET /hello HTTP/1.0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().headers["Connection"], "close")
        XCTAssertTrue(client.isClosedByServer())

        let kept = try live.client()
        try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try kept.readResponse().headers["Connection"], "keep-alive")
        try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try kept.readResponse().status, 200)
    }

    func testChunkedUploadWithTrailers() throws {
        let client = try live.client()
        try client.send("POST /echo-size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n")
        try client.send("2\r\nde\r\n0\r\nDigest: z\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.text, "5")
        XCTAssertEqual(response.headers["X-Trailer-Count"], "1")
    }

    func testProtocolErrorsAreProblemJsonAndClose() throws {
        let client = try live.client()
        try client.send("GET / HTTP/2.0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 505)
        XCTAssertEqual(response.headers["Content-Type"], "application/problem+json")
        let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(response.body))
        XCTAssertEqual(problem.title, "HTTP Version Not Supported")
        XCTAssertTrue(client.isClosedByServer())
    }

    func testLargeUploadAndLargeDownloadWithASlowReader() throws {
        let upload = [UInt8](repeating: 0x61, count: 3 * 1024 * 1024 + 11)
        // Megabytes each way: a loaded machine may take more than the usual 5 s per read.
        let client = try live.client(timeout: 30)
        try client.send(Array("POST /echo-size HTTP/1.1\r\nHost: t\r\nContent-Length: \(upload.count)\r\n\r\n".utf8) + upload)
        XCTAssertEqual(try client.readResponse().text, "\(upload.count)")
        // 8 MiB does not fit the socket buffers, so the server must wait for writability.
        try client.send("GET /big?bytes=8388608 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.2)
        let big = try client.readResponse()
        XCTAssertEqual(big.body.count, 8_388_608)
        XCTAssertEqual(big.body[1_000_003], UInt8(truncatingIfNeeded: 1_000_003))
        XCTAssertEqual(try client.readResponse().text, "hello")
    }

    func testClientHalfCloseAfterPipelinedRequestsStillGetsAnswers() throws {
        let client = try live.client()
        try client.send("GET /sleep?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        client.finishSending()
        XCTAssertEqual(try client.readResponse().status, 200)
        let last = try client.readResponse()
        XCTAssertEqual(last.text, "hello")
        XCTAssertEqual(last.headers["Connection"], "close")
        XCTAssertTrue(client.isClosedByServer())
    }

    func testThousandsOfPipelinedRequestsInOneBurstUnderBackpressure() throws {
        let count = 3000
        let client = try live.client()
        let burst = (0..<count).map { "GET /n/\($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
        let sending = client.sendInBackground(Array(burst.utf8))
        for index in 0..<count {
            XCTAssertEqual(try client.readResponse().text, "\(index)")
        }
        XCTAssertEqual(sending.wait(), burst.utf8.count)
    }
}
