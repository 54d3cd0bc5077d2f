import XCTest
@testable import HTTPServer

final class RequestParserErrorTests: XCTestCase {
    private let host = "Host: h\r\n"

    /// The error must be the same whether the bytes arrive at once or one at a time.
    private func assertRejects(
        _ text: String, with expected: HTTPParseError, status: Int, limits: HTTPServerConfiguration.Limits = .init(),
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let whole = ParserDriver.run(text, limits: limits)
        XCTAssertEqual(whole.error, expected, file: file, line: line)
        XCTAssertEqual(whole.error?.status.code, status, file: file, line: line)
        XCTAssertEqual(ParserDriver.run(text, sliceSize: 1, limits: limits).error, expected, "byte at a time", file: file, line: line)
    }

    func testRequestLineErrors() {
        assertRejects("GET /\r\n\r\n", with: .invalidRequestLine("GET /"), status: 400)
        assertRejects("G(T / HTTP/1.1\r\n\(host)\r\n", with: .invalidMethod("G(T"), status: 400)
        assertRejects(" / HTTP/1.1\r\n\r\n", with: .invalidMethod(""), status: 400)
        assertRejects("GET  / HTTP/1.1\r\n\r\n", with: .invalidRequestTarget(""), status: 400)
        assertRejects("GET foo HTTP/1.1\r\n\r\n", with: .invalidRequestTarget("foo"), status: 400)
        assertRejects("GET * HTTP/1.1\r\n\r\n", with: .invalidRequestTarget("*"), status: 400)
        assertRejects("GET /a\u{7}b HTTP/1.1\r\n\r\n", with: .invalidRequestTarget("/a\u{7}b"), status: 400)
        assertRejects("GET / HTTP/1.1 \r\n\r\n", with: .invalidVersion("HTTP/1.1 "), status: 400)
        assertRejects("GET / HTTP/1\r\n\r\n", with: .invalidVersion("HTTP/1"), status: 400)
        assertRejects("GET / http/1.1\r\n\r\n", with: .invalidVersion("http/1.1"), status: 400)
        assertRejects("GET / HTTP/2.0\r\n\r\n", with: .unsupportedVersion("HTTP/2.0"), status: 505)
        assertRejects("GET / HTTP/0.9\r\n\r\n", with: .unsupportedVersion("HTTP/0.9"), status: 505)
    }

    func testLineEndingsMustBeCRLF() {
        assertRejects("GET / HTTP/1.1\n\r\n", with: .bareLineFeed, status: 400)
        assertRejects("GET / HTTP/1.1\r\nHost: h\n\r\n", with: .bareLineFeed, status: 400)
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nA: x\ry\r\n\r\n", with: .invalidHeaderValue(name: "A"), status: 400)
    }

    func testHeaderFieldErrors() {
        assertRejects("GET / HTTP/1.1\r\n\(host)X: a\r\n  folded\r\n\r\n", with: .obsoleteLineFolding(line: "  folded"), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)Bad Name: x\r\n\r\n", with: .invalidHeaderName("Bad Name"), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)Name : x\r\n\r\n", with: .invalidHeaderName("Name "), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)B@d: x\r\n\r\n", with: .invalidHeaderName("B@d"), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host): x\r\n\r\n", with: .invalidHeaderName(""), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", with: .invalidHeaderName("NoColon"), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)Nul: a\u{0}b\r\n\r\n", with: .invalidHeaderValue(name: "Nul"), status: 400)
        assertRejects("GET / HTTP/1.1\r\n\r\n", with: .missingHost, status: 400)
        assertRejects("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", with: .duplicateHost, status: 400)
        assertRejects("GET / HTTP/1.1\r\n\(host)Expect: 200-ok\r\n\r\n", with: .unsupportedExpectation("200-ok"), status: 417)
    }

    func testContentLengthErrors() {
        let post = "POST / HTTP/1.1\r\n\(host)"
        assertRejects("\(post)Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", with: .duplicateContentLength, status: 400)
        assertRejects("\(post)Content-Length: 3, 3\r\n\r\nabc", with: .duplicateContentLength, status: 400)
        assertRejects("\(post)Content-Length: abc\r\n\r\n", with: .invalidContentLength("abc"), status: 400)
        assertRejects("\(post)Content-Length: -1\r\n\r\n", with: .invalidContentLength("-1"), status: 400)
        assertRejects("\(post)Content-Length: +5\r\n\r\n", with: .invalidContentLength("+5"), status: 400)
        assertRejects("\(post)Content-Length:\r\n\r\n", with: .invalidContentLength(""), status: 400)
        assertRejects(
            "\(post)Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", with: .contentLengthWithTransferEncoding, status: 400)
    }

    func testTransferEncodingErrors() {
        let post = "POST / HTTP/1.1\r\n\(host)"
        assertRejects("\(post)Transfer-Encoding: gzip, chunked\r\n\r\n", with: .unsupportedTransferCoding("gzip"), status: 501)
        assertRejects("\(post)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", with: .unsupportedTransferCoding("gzip"), status: 501)
        assertRejects("\(post)Transfer-Encoding: gzip\r\n\r\n", with: .invalidTransferEncoding("gzip"), status: 400)
        assertRejects("\(post)Transfer-Encoding: chunked, chunked\r\n\r\n", with: .invalidTransferEncoding("chunked, chunked"), status: 400)
        assertRejects("\(post)Transfer-Encoding: chunked, gzip\r\n\r\n", with: .invalidTransferEncoding("chunked, gzip"), status: 400)
        assertRejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", with: .transferEncodingInHTTP10, status: 400)
    }

    func testChunkErrors() {
        let post = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        assertRejects("\(post)zz\r\n", with: .invalidChunkSize("zz"), status: 400)
        assertRejects("\(post)\r\n", with: .invalidChunkSize(""), status: 400)
        assertRejects("\(post)5;\r\nhello\r\n", with: .invalidChunkExtension("5;"), status: 400)
        assertRejects("\(post)5;=x\r\nhello\r\n", with: .invalidChunkExtension("5;=x"), status: 400)
        assertRejects("\(post)5;a=\"open\r\nhello\r\n", with: .invalidChunkExtension("5;a=\"open"), status: 400)
        assertRejects("\(post)5 x\r\nhello\r\n", with: .invalidChunkExtension("5 x"), status: 400)
        assertRejects("\(post)5\r\nhelloX\r\n", with: .missingChunkDelimiter, status: 400)
        assertRejects("\(post)5\r\nhello\rX", with: .missingChunkDelimiter, status: 400)
        assertRejects("\(post)5\r\nhello\r\n0\r\n folded: no\r\n\r\n", with: .obsoleteLineFolding(line: " folded: no"), status: 400)
        let longLine = "1;" + String(repeating: "a", count: RequestParser.maxChunkLineBytes)
        assertRejects("\(post)\(longLine)\r\n", with: .chunkLineTooLong(limit: RequestParser.maxChunkLineBytes), status: 400)
    }

    func testBodyLimit() {
        var limits = HTTPServerConfiguration.Limits()
        limits.maxBodyBytes = 10
        let post = "POST / HTTP/1.1\r\n\(host)"
        assertRejects("\(post)Content-Length: 11\r\n\r\n", with: .bodyTooLarge(limit: 10), status: 413, limits: limits)
        assertRejects(
            "\(post)Content-Length: 99999999999999999999999999\r\n\r\n", with: .bodyTooLarge(limit: 10), status: 413, limits: limits)
        let chunked = "\(post)Transfer-Encoding: chunked\r\n\r\n"
        assertRejects("\(chunked)6\r\nabcdef\r\n5\r\n", with: .bodyTooLarge(limit: 10), status: 413, limits: limits)
        assertRejects("\(chunked)fffffffffffffffffffffffff\r\n", with: .bodyTooLarge(limit: 10), status: 413, limits: limits)
        XCTAssertNil(ParserDriver.run("\(post)Content-Length: 10\r\n\r\n0123456789", limits: limits).error, "the limit itself is allowed")
        XCTAssertNil(ParserDriver.run("\(chunked)a\r\n0123456789\r\n0\r\n\r\n", limits: limits).error)
    }

    func testHeadLimits() {
        var limits = HTTPServerConfiguration.Limits()
        limits.maxRequestLineBytes = 20
        limits.maxHeaderBytes = 40
        limits.maxHeaderCount = 3
        let line20 = "GET /" + String(repeating: "a", count: 6) + " HTTP/1.1"
        XCTAssertEqual(line20.utf8.count, 20)
        XCTAssertNil(ParserDriver.run("\(line20)\r\n\(host)\r\n", limits: limits).error)
        assertRejects("GET /" + String(repeating: "a", count: 7) + " HTTP/1.1\r\n\r\n",
                      with: .requestLineTooLong(limit: 20), status: 414, limits: limits)
        assertRejects("GET /" + String(repeating: "a", count: 100), with: .requestLineTooLong(limit: 20), status: 414, limits: limits)
        assertRejects(String(repeating: "\r\n", count: 11), with: .requestLineTooLong(limit: 20), status: 414, limits: limits)
        assertRejects("GET / HTTP/1.1\r\n\(host)A: 1\r\nB: 2\r\nC: 3\r\n\r\n", with: .tooManyHeaders(limit: 3), status: 431, limits: limits)
        // 9 + 31 + 2 bytes: the terminating CRLF counts, so 42 bytes exceed 40.
        assertRejects("GET / HTTP/1.1\r\n\(host)X: " + String(repeating: "v", count: 26) + "\r\n\r\n",
                      with: .headerSectionTooLarge(limit: 40), status: 431, limits: limits)
        assertRejects("GET / HTTP/1.1\r\nX: " + String(repeating: "v", count: 100),
                      with: .headerSectionTooLarge(limit: 40), status: 431, limits: limits)
        let trailers = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
        var trailerLimits = HTTPServerConfiguration.Limits()
        trailerLimits.maxHeaderCount = 3
        assertRejects(trailers, with: .tooManyHeaders(limit: 3), status: 431, limits: trailerLimits)
    }

    func testParserStaysFailedAfterAnError() {
        var driver = ParserDriver()
        driver.feed(Array("GET / HTTP/2.0\r\n\r\n".utf8))
        XCTAssertEqual(driver.error, .unsupportedVersion("HTTP/2.0"))
        driver.error = nil
        driver.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        XCTAssertEqual(driver.error, .unsupportedVersion("HTTP/2.0"))
        XCTAssertTrue(driver.requests.isEmpty)
    }
}
