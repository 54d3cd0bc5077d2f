import XCTest
import HTTPServer

final class HTTPMessageTests: XCTestCase {
    func testHeadersLookupIsCaseInsensitiveAndKeepsOrder() {
        var headers: HTTPHeaders = ["Accept": "a", "X-Multi": "1"]
        headers.add(name: "x-multi", value: "2")
        XCTAssertEqual(headers["ACCEPT"], "a")
        XCTAssertEqual(headers.values(for: "X-MULTI"), ["1", "2"])
        headers["x-Multi"] = "3"
        XCTAssertEqual(headers.values(for: "x-multi"), ["3"])
        XCTAssertEqual(Array(headers).map(\.name), ["Accept", "X-Multi"])
        headers["accept"] = nil
        XCTAssertFalse(headers.contains("Accept"))
        XCTAssertEqual(headers.count, 1)
    }

    func testListTokens() {
        let headers: HTTPHeaders = ["Connection": "Upgrade ,  CLOSE", "Other": "closed"]
        XCTAssertTrue(headers.containsToken("close", in: "connection"))
        XCTAssertFalse(headers.containsToken("close", in: "other"))
    }

    func testQueryItemsDecodeFormEncoding() {
        let request = HTTPRequest(method: .get, target: "/p?a=1&b=x+y%2Fz&flag&&=v&bad=%zz&utf=%C3%A9")
        XCTAssertEqual(request.path, "/p")
        XCTAssertEqual(request.queryItems, [
            HTTPQueryItem(name: "a", value: "1"), HTTPQueryItem(name: "b", value: "x y/z"), HTTPQueryItem(name: "flag", value: ""),
            HTTPQueryItem(name: "", value: "v"), HTTPQueryItem(name: "bad", value: "%zz"), HTTPQueryItem(name: "utf", value: "é"),
        ])
        XCTAssertEqual(request.queryValue("b"), "x y/z")
        XCTAssertNil(request.queryValue("missing"))
        XCTAssertEqual(HTTPRequest(method: .get, target: "/p?").rawQuery, "")
        XCTAssertNil(HTTPRequest(method: .get, target: "/p").rawQuery)
    }

    func testJsonAndProblemResponses() throws {
        struct Job: Codable, Equatable { var id: Int }
        let json = try HTTPResponse.json(Job(id: 7), status: .accepted)
        XCTAssertEqual(json.status, .accepted)
        XCTAssertEqual(json.headers["content-type"], "application/json")
        XCTAssertEqual(try JSONDecoder().decode(Job.self, from: Data(json.body)), Job(id: 7))

        let problem = HTTPResponse.problem(.tooManyRequests, detail: "queue \"full\"\n", type: "https://example.com/queue-full")
        XCTAssertEqual(problem.status.code, 429)
        XCTAssertEqual(problem.headers["Content-Type"], "application/problem+json")
        let decoded = try JSONDecoder().decode(ProblemDetails.self, from: Data(problem.body))
        XCTAssertEqual(decoded, ProblemDetails(type: "https://example.com/queue-full", title: "Too Many Requests", status: 429, detail: "queue \"full\"\n"))
    }

    func testProblemJsonEscapesControlCharacters() throws {
        let problem = ProblemDetails(title: "t", status: 400, detail: "a\u{1}b\\c\td", instance: "/x")
        XCTAssertEqual(String(decoding: problem.jsonBytes, as: UTF8.self),
                       #"{"type":"about:blank","title":"t","status":400,"detail":"a\u0001b\\c\td","instance":"/x"}"#)
        XCTAssertEqual(try JSONDecoder().decode(ProblemDetails.self, from: Data(problem.jsonBytes)), problem)
    }

    func testStatusEqualityIgnoresPhrase() {
        XCTAssertEqual(HTTPStatus(code: 200, reasonPhrase: "Fine"), .ok)
        XCTAssertEqual(HTTPStatus(code: 413).reasonPhrase, "Content Too Large")
        XCTAssertEqual(HTTPStatus(code: 599).reasonPhrase, "")
    }

    func testSocketAddressDescription() {
        XCTAssertEqual(SocketAddress(host: "::1", port: 80, family: .ipv6).description, "[::1]:80")
        XCTAssertEqual(SocketAddress(host: "10.0.0.1", port: 8080, family: .ipv4).description, "10.0.0.1:8080")
    }
}
