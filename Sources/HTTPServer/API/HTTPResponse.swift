import Foundation

/// A response produced by the handler; the server adds `Date`, `Content-Length` and `Connection` itself.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// A body sent as it is produced (chunked on HTTP/1.1, until close on HTTP/1.0) instead of
    /// `body`. The stream must yield at least once per write timeout (heartbeats), or the
    /// connection is closed as stuck; it is cancelled when the client goes away.
    public var stream: AsyncStream<[UInt8]>?

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: [UInt8] = [], stream: AsyncStream<[UInt8]>? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// A response whose body is `value` encoded by `encoder`, labelled `contentType`.
    public static func json(
        _ value: some Encodable, status: HTTPStatus = .ok, contentType: String = "application/json",
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(try encoder.encode(value)))
    }

    /// An `application/problem+json` response (RFC 9457) carrying `problem`.
    public static func problem(_ problem: ProblemDetails, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = ProblemDetails.mediaType
        return HTTPResponse(status: HTTPStatus(code: problem.status), headers: headers, body: problem.jsonBytes)
    }

    /// A problem response whose title is the status's reason phrase.
    public static func problem(_ status: HTTPStatus, detail: String, type: String = "about:blank") -> HTTPResponse {
        problem(ProblemDetails(type: type, title: status.reasonPhrase, status: status.code, detail: detail))
    }

    /// True when the handler asked to close the connection after this response.
    var requestsClose: Bool { headers.containsToken("close", in: "Connection") }
}
