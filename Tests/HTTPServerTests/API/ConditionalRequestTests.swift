import HTTPServer
import XCTest

/// `If-None-Match` (RFC 9110 §13.1.2): a GET or HEAD whose tags name the response's ETag gets a
/// bodiless 304 with the caching headers; anything else gets the response as it is.
final class ConditionalRequestTests: XCTestCase {
    let ok = HTTPResponse(headers: ["Content-Type": "image/png", "ETag": "\"a-1\"", "Cache-Control": "private, max-age=60"], body: [1, 2, 3])

    func request(_ condition: String..., method: HTTPMethod = .get) -> HTTPRequest {
        var headers = HTTPHeaders()
        for value in condition { headers.add(name: "If-None-Match", value: value) }
        return HTTPRequest(method: method, target: "/r", headers: headers)
    }

    func testMatchingTagsAnswerNotModified() {
        for condition in ["\"a-1\"", "W/\"a-1\"", "\"x\", \"a-1\"", "*", " \"x,y\" ,\"a-1\" "] {
            let answer = ok.evaluatingConditions(of: request(condition))
            XCTAssertEqual(answer.status, .notModified, condition)
            XCTAssertEqual(answer.body, [], condition)
            XCTAssertEqual(answer.headers["ETag"], "\"a-1\"")
            XCTAssertEqual(answer.headers["Cache-Control"], "private, max-age=60")
            XCTAssertNil(answer.headers["Content-Type"], "a 304 describes no content")
        }
        XCTAssertEqual(ok.evaluatingConditions(of: request("\"a-1\"", method: .head)).status, .notModified)
        XCTAssertEqual(ok.evaluatingConditions(of: request("\"x\"", "\"a-1\"")).status, .notModified, "repeated fields are one list")
    }

    func testOtherRequestsGetTheResponse() {
        for condition in ["\"a-2\"", "\"a-1", "a-1", "\"a-1,x\"", ""] {
            XCTAssertEqual(ok.evaluatingConditions(of: request(condition)).status, .ok, condition)
        }
        XCTAssertEqual(ok.evaluatingConditions(of: request()).status, .ok, "no condition")
        XCTAssertEqual(ok.evaluatingConditions(of: request("\"a-1\"", method: .post)).status, .ok, "only GET and HEAD")
        let untagged = HTTPResponse(headers: ["Content-Type": "text/plain"], body: [1])
        XCTAssertEqual(untagged.evaluatingConditions(of: request("*")).status, .ok, "no ETag, nothing to match")
        let problem = HTTPResponse.problem(.notFound, detail: "no job")
        XCTAssertEqual(problem.evaluatingConditions(of: request("*")).status, .notFound, "errors are never 304")
    }
}
