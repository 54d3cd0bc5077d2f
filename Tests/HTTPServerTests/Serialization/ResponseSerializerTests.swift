import XCTest
@testable import HTTPServer

final class ResponseSerializerTests: XCTestCase {
    private let date = "Sun, 06 Nov 1994 08:49:37 GMT"
    private let keepAlive = ResponseContext(version: .http1_1, isHeadRequest: false, closeConnection: false)

    private func wire(_ response: HTTPResponse, _ context: ResponseContext) -> (head: String, body: [UInt8]) {
        let (head, body) = ResponseSerializer.serialize(response, context: context, date: date)
        return (String(decoding: head, as: UTF8.self), body)
    }

    func testAddsDateAndContentLengthAndDropsServerOwnedFields() {
        let response = HTTPResponse(
            status: .created, headers: ["Location": "/v1/jobs/1", "content-length": "999", "Transfer-Encoding": "chunked", "Connection": "keep-alive"],
            body: Array("{}".utf8))
        let (head, body) = wire(response, keepAlive)
        XCTAssertEqual(head, "HTTP/1.1 201 Created\r\nDate: \(date)\r\nLocation: /v1/jobs/1\r\nContent-Length: 2\r\n\r\n")
        XCTAssertEqual(body, Array("{}".utf8))
    }

    func testHandlerDateIsKept() {
        let (head, _) = wire(HTTPResponse(headers: ["Date": "custom"]), keepAlive)
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nDate: custom\r\nContent-Length: 0\r\n\r\n")
    }

    func testConnectionHeaderFollowsTheContext() {
        var closing = keepAlive
        closing.closeConnection = true
        XCTAssertTrue(wire(HTTPResponse(), closing).head.contains("\r\nConnection: close\r\n"))
        let http10 = ResponseContext(version: .http1_0, isHeadRequest: false, closeConnection: false)
        XCTAssertTrue(wire(HTTPResponse(), http10).head.contains("\r\nConnection: keep-alive\r\n"))
        XCTAssertFalse(wire(HTTPResponse(), keepAlive).head.contains("Connection"))
    }

    func testHeadKeepsTheGetLengthButSendsNoBody() {
        let head = ResponseContext(version: .http1_1, isHeadRequest: true, closeConnection: false)
        let full = wire(HTTPResponse(body: Array(repeating: 7, count: 1234)), head)
        XCTAssertTrue(full.head.hasSuffix("Content-Length: 1234\r\n\r\n"))
        XCTAssertEqual(full.body, [])
        let declared = wire(HTTPResponse(headers: ["Content-Length": "4321"]), head)
        XCTAssertTrue(declared.head.hasSuffix("Content-Length: 4321\r\n\r\n"), "a HEAD-aware handler's length is kept")
    }

    func testNoContentAndNotModifiedCarryNoLengthOrBody() {
        for status in [HTTPStatus.noContent, .notModified] {
            let (head, body) = wire(HTTPResponse(status: status, body: [1, 2, 3]), keepAlive)
            XCTAssertFalse(head.contains("Content-Length"), "\(status)")
            XCTAssertTrue(head.hasSuffix("\r\n\r\n"))
            XCTAssertEqual(body, [])
        }
    }

    func testHeaderInjectionIsReplacedBy500() throws {
        let attempts: [HTTPResponse] = [
            HTTPResponse(headers: ["X-Evil": "a\r\nSet-Cookie: x=1"]),
            HTTPResponse(headers: ["Bad Name": "v"]),
            HTTPResponse(status: HTTPStatus(code: 200, reasonPhrase: "OK\r\nX: y")),
            HTTPResponse(status: HTTPStatus(code: 1000)),
        ]
        for response in attempts {
            let (head, body) = wire(response, keepAlive)
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"), head)
            XCTAssertTrue(head.contains("Content-Type: application/problem+json"))
            XCTAssertEqual(try JSONDecoder().decode(ProblemDetails.self, from: Data(body)).status, 500)
        }
    }

    func testImfFixdate() {
        XCTAssertEqual(IMFFixdate.format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(IMFFixdate.format(0), "Thu, 01 Jan 1970 00:00:00 GMT")
        XCTAssertEqual(IMFFixdate.format(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT")
        var cache = IMFFixdate()
        XCTAssertEqual(cache.value(forEpochSecond: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(cache.value(forEpochSecond: 784_111_778), "Sun, 06 Nov 1994 08:49:38 GMT")
    }
}
