import Foundation

/// A complete request as handed to the handler: head, fully received body, trailers and peer.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The request-target exactly as received (origin-form `/a?b`, absolute-form, or `*`).
    public var target: String
    /// The path part of the target, still percent-encoded (`/` for an absolute-form target without one).
    public var path: String
    /// The query after `?`, undecoded, or nil when the target has none.
    public var rawQuery: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Fields sent after a chunked body (RFC 9112 §7.1.2); empty otherwise.
    public var trailers: HTTPHeaders
    public var remoteAddress: SocketAddress?

    public init(
        method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:],
        body: [UInt8] = [], trailers: HTTPHeaders = [:], remoteAddress: SocketAddress? = nil
    ) {
        self.method = method
        self.target = target
        (path, rawQuery) = HTTPRequest.split(target: target)
        self.version = version
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.remoteAddress = remoteAddress
    }

    /// The decoded query items, in order.
    public var queryItems: [HTTPQueryItem] { rawQuery.map(HTTPQueryItem.parse) ?? [] }

    /// The decoded value of the first query item called `name`.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// The body as `Data` (a copy).
    public var bodyData: Data { Data(body) }

    /// Whether the client lets the connection stay open after this exchange (RFC 9112 §9.3):
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        if headers.containsToken("close", in: "Connection") { return false }
        return version.minor >= 1 || headers.containsToken("keep-alive", in: "Connection")
    }

    /// The host and port the request is addressed to: an absolute-form target's authority, which
    /// takes the place of `Host` (RFC 9112 §3.2.2), else the `Host` field; nil when neither is there.
    public var authority: String? {
        if !target.hasPrefix("/"), let schemeEnd = target.range(of: "://") {
            let rest = target[schemeEnd.upperBound...]
            return String(rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)])
        }
        return headers["Host"]
    }

    /// Splits a request-target into path and raw query; absolute-form loses its scheme and authority.
    static func split(target: String) -> (path: String, query: String?) {
        var rest = Substring(target)
        if !rest.hasPrefix("/"), let schemeEnd = rest.range(of: "://") {
            let afterAuthority = rest[schemeEnd.upperBound...]
            rest = afterAuthority.firstIndex { $0 == "/" || $0 == "?" }.map { afterAuthority[$0...] } ?? ""
        }
        let question = rest.firstIndex(of: "?")
        var path = String(rest[..<(question ?? rest.endIndex)])
        if path.isEmpty { path = "/" }
        return (path, question.map { String(rest[rest.index(after: $0)...]) })
    }
}
