import HTTPServer
import Pipeline
import ServiceCore

/// An error a client sees: status, a problem type naming the case, and a precise detail.
/// Rendered as RFC 9457 `application/problem+json`.
struct APIError: Error, Equatable, Sendable {
    var status: HTTPStatus
    /// A short slug, published as the problem type `/problems/<slug>` (`about:blank` when nil).
    var slug: String?
    var detail: String
    var headers: HTTPHeaders = [:]

    var problem: ProblemDetails {
        ProblemDetails(type: slug.map { "/problems/\($0)" } ?? "about:blank", title: status.reasonPhrase,
                       status: status.code, detail: detail)
    }

    var response: HTTPResponse { .problem(problem, headers: headers) }

    static func badRequest(_ detail: String, slug: String = "bad-request") -> APIError {
        APIError(status: .badRequest, slug: slug, detail: detail)
    }
    static func notFound(_ detail: String) -> APIError { APIError(status: .notFound, slug: "not-found", detail: detail) }
    static func methodNotAllowed(method: String, path: String, allow: [String]) -> APIError {
        APIError(status: .methodNotAllowed, slug: "method-not-allowed", detail: "\(method) is not allowed on \(path); allowed: \(allow.joined(separator: ", "))",
                 headers: ["Allow": allow.joined(separator: ", ")])
    }
    static func conflict(_ detail: String) -> APIError { APIError(status: HTTPStatus(code: 409), slug: "conflict", detail: detail) }
    static func lengthRequired() -> APIError {
        APIError(status: HTTPStatus(code: 411), slug: "length-required", detail: "a body with Content-Length or chunked Transfer-Encoding is required")
    }
    static func tooLarge(_ detail: String) -> APIError { APIError(status: HTTPStatus(code: 413), slug: "too-large", detail: detail) }
    static func unsupportedMediaType(_ detail: String) -> APIError {
        APIError(status: HTTPStatus(code: 415), slug: "unsupported-media-type", detail: detail)
    }
    static func unprocessable(_ detail: String, slug: String = "undecodable") -> APIError {
        APIError(status: HTTPStatus(code: 422), slug: slug, detail: detail)
    }
    static func queueFull(queued: Int, retryAfter: Int) -> APIError {
        APIError(status: HTTPStatus(code: 429), slug: "queue-full", detail: "\(queued) jobs are queued, the most allowed; retry later",
                 headers: ["Retry-After": "\(retryAfter)"])
    }
    static func unavailable(_ detail: String) -> APIError {
        APIError(status: HTTPStatus(code: 503), slug: "unavailable", detail: detail, headers: ["Retry-After": "5"])
    }
    static func `internal`(_ detail: String) -> APIError { APIError(status: HTTPStatus(code: 500), slug: "internal", detail: detail) }
}

extension APIError {
    /// A client's unusable input: empty 400, too many pixels 413, not PNG or JPEG 415, else 422.
    init(_ input: InputError) {
        let status: HTTPStatus = switch input {
        case .empty: .badRequest
        case .tooManyPixels: HTTPStatus(code: 413)
        case .unsupportedFormat: HTTPStatus(code: 415)
        default: HTTPStatus(code: 422)
        }
        self.init(status: status, slug: input.code, detail: input.description)
    }
}
