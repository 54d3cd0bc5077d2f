import XCTest
@testable import HTTPServer

final class RequestParserTests: XCTestCase {
    /// Every slice size from one byte to the whole message must give the same result.
    private func assertSameForEverySliceSize(
        _ text: String, limits: HTTPServerConfiguration.Limits = .init(), file: StaticString = #filePath, line: UInt = #line
    ) -> ParserDriver {
        let whole = ParserDriver.run(text, limits: limits)
        for size in 1..<max(2, text.utf8.count) {
            let sliced = ParserDriver.run(text, sliceSize: size, limits: limits)
            XCTAssertEqual(sliced.records, whole.records, "slice size \(size)", file: file, line: line)
            XCTAssertEqual(sliced.error, whole.error, "slice size \(size)", file: file, line: line)
            XCTAssertEqual(sliced.requests.map(\.body), whole.requests.map(\.body), "slice size \(size)", file: file, line: line)
            XCTAssertEqual(sliced.requests.map(\.headers), whole.requests.map(\.headers), "slice size \(size)", file: file, line: line)
            XCTAssertEqual(sliced.requests.map(\.trailers), whole.requests.map(\.trailers), "slice size \(size)", file: file, line: line)
        }
        return whole
    }

    func testSimpleGetExposesHeadParts() throws {
        let driver = assertSameForEverySliceSize(
            "GET /v1/jobs?state=queued&name=a%20b+c HTTP/1.1\r\nHost: example.com\r\nX-Trace:  abc \r\n\r\n")
        XCTAssertNil(driver.error)
        let request = try XCTUnwrap(driver.requests.first)
        XCTAssertEqual(request.method, .get)
        XCTAssertEqual(request.target, "/v1/jobs?state=queued&name=a%20b+c")
        XCTAssertEqual(request.path, "/v1/jobs")
        XCTAssertEqual(request.rawQuery, "state=queued&name=a%20b+c")
        XCTAssertEqual(request.queryItems, [HTTPQueryItem(name: "state", value: "queued"), HTTPQueryItem(name: "name", value: "a b c")])
        XCTAssertEqual(request.version, .http1_1)
        XCTAssertEqual(request.headers["host"], "example.com")
        XCTAssertEqual(request.headers["x-trace"], "abc", "surrounding whitespace is not part of the value")
        XCTAssertTrue(request.body.isEmpty)
        XCTAssertTrue(request.keepAlive)
        XCTAssertEqual(driver.phase, .idle)
    }

    func testContentLengthBody() throws {
        let driver = assertSameForEverySliceSize("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        XCTAssertEqual(driver.requests.map { String(decoding: $0.body, as: UTF8.self) }, ["hello world"])
    }

    func testPipelinedRequestsInOneBufferComeOutInOrder() {
        let text = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
        let driver = assertSameForEverySliceSize(text)
        XCTAssertEqual(driver.records, [.request("/1"), .request("/2"), .request("/3")])
        XCTAssertEqual(driver.requests[1].body, Array("abc".utf8))
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n"
            + "6 ; quoted=\"a \\\"b\\\"\" ;flag\r\n world\r\n"
            + "0\r\nChecksum: abc\r\nX-Done: yes\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
        let driver = assertSameForEverySliceSize(text)
        XCTAssertNil(driver.error)
        XCTAssertEqual(driver.records, [.request("/up"), .request("/next")])
        let upload = driver.requests[0]
        XCTAssertEqual(String(decoding: upload.body, as: UTF8.self), "hello world")
        XCTAssertEqual(upload.trailers["checksum"], "abc")
        XCTAssertEqual(upload.trailers["X-DONE"], "yes")
    }

    func testChunkedEmptyBodyAndUppercaseHexSize() {
        let empty = assertSameForEverySliceSize("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        XCTAssertEqual(empty.requests.map(\.body), [[]])
        let hex = ParserDriver.run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n")
        XCTAssertEqual(hex.requests.map { $0.body.count }, [10])
    }

    func testLeadingEmptyLinesAreIgnored() {
        let driver = assertSameForEverySliceSize("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertEqual(driver.records, [.request("/")])
    }

    func testHTTP10KeepsAliveOnlyWhenAsked() {
        let plain = ParserDriver.run("GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(plain.requests.first?.version, .http1_0)
        XCTAssertEqual(plain.requests.first?.keepAlive, false)
        let asked = ParserDriver.run("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        XCTAssertEqual(asked.requests.first?.keepAlive, true)
        let closing = ParserDriver.run("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n")
        XCTAssertEqual(closing.requests.first?.keepAlive, false)
    }

    func testHigherHTTP1MinorVersionIsServedAsHTTP11() {
        XCTAssertEqual(ParserDriver.run("GET / HTTP/1.7\r\nHost: h\r\n\r\n").requests.first?.version, .http1_1)
    }

    func testExpectContinueIsReportedBeforeTheBody() {
        let text = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\ndata"
        let driver = assertSameForEverySliceSize(text)
        XCTAssertEqual(driver.records, [.expectsContinue, .request("/f")])
        let chunked = ParserDriver.run("PUT /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(chunked.records, [.expectsContinue])
        XCTAssertEqual(chunked.phase, .body)
    }

    func testExpectContinueIsIgnoredWithoutBodyOrForHTTP10() {
        XCTAssertEqual(ParserDriver.run("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").records, [.request("/")])
        XCTAssertEqual(
            ParserDriver.run("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").records, [.request("/")])
        XCTAssertEqual(
            ParserDriver.run("POST / HTTP/1.0\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx").records, [.request("/")])
    }

    func testAbsoluteAndAsteriskForms() throws {
        let absolute = try XCTUnwrap(ParserDriver.run("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").requests.first)
        XCTAssertEqual(absolute.path, "/a/b")
        XCTAssertEqual(absolute.queryValue("x"), "1")
        let bare = try XCTUnwrap(ParserDriver.run("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").requests.first)
        XCTAssertEqual(bare.path, "/")
        XCTAssertNil(bare.rawQuery)
        let asterisk = try XCTUnwrap(ParserDriver.run("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").requests.first)
        XCTAssertEqual(asterisk.path, "*")
    }

    func testRepeatedHeadersKeepOrderAndObsTextIsAccepted() throws {
        let request = try XCTUnwrap(ParserDriver.run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\na: 3\r\nEmpty:\r\nLatin: caf\u{e9}\r\n\r\n").requests.first)
        XCTAssertEqual(request.headers.values(for: "A"), ["1", "3"])
        XCTAssertEqual(request.headers["empty"], "")
        XCTAssertEqual(request.headers["latin"], "caf\u{e9}")
    }

    func testLargeContentLengthBodyGrowsAcrossSlices() {
        let size = RequestParser.initialBodyAllocation * 3 + 17
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var driver = ParserDriver()
        driver.feed(Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(size)\r\n\r\n".utf8) + payload, sliceSize: 70_001)
        XCTAssertNil(driver.error)
        XCTAssertEqual(driver.requests.first?.body, payload)
    }

    func testDirectBodyReadsFillTheBodyWithoutFeeding() throws {
        var parser = RequestParser(limits: .init())
        let head = Array("POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab".utf8)
        let (consumed, event) = try head.withUnsafeBytes { bytes throws(HTTPParseError) in try parser.parse(bytes) }
        XCTAssertEqual(consumed, head.count)
        XCTAssertNil(event)
        XCTAssertTrue(parser.acceptsDirectBodyRead)
        let source = Array("cdefghij".utf8)
        var offered: [Int] = []
        let first = parser.readBodyDirectly { buffer in
            offered.append(buffer.count)
            source.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<3])) }
            return 3
        }
        XCTAssertEqual(first?.count, 3)
        XCTAssertNil(first?.request)
        XCTAssertEqual(parser.readBodyDirectly { _ in 0 }?.count, 0, "no data leaves the parser waiting")
        let second = parser.readBodyDirectly { buffer in
            offered.append(buffer.count)
            source[3...].withUnsafeBytes { buffer.copyMemory(from: $0) }
            return 5
        }
        XCTAssertEqual(offered, [8, 5], "the window never reaches past the announced length")
        XCTAssertEqual(second?.request?.body, Array("abcdefghij".utf8))
        XCTAssertFalse(parser.acceptsDirectBodyRead)
        XCTAssertNil(parser.readBodyDirectly { _ in XCTFail("not in a body"); return 0 })
    }

    func testPhaseFollowsProgress() {
        var driver = ParserDriver()
        XCTAssertEqual(driver.phase, .idle)
        driver.feed(Array("POST / HTTP/1.1\r\nHo".utf8))
        XCTAssertEqual(driver.phase, .head)
        driver.feed(Array("st: h\r\nContent-Length: 2\r\n\r\na".utf8))
        XCTAssertEqual(driver.phase, .body)
        driver.feed(Array("b".utf8))
        XCTAssertEqual(driver.phase, .idle)
        XCTAssertEqual(driver.requests.count, 1)
    }
}
