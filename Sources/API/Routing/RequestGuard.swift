import HTTPServer
import ServiceCore

/// Checks a request before it is routed: its `Host` against `server.allowed_hosts` (a page on
/// another site must not reach a loopback server by DNS rebinding), and for state-changing
/// methods the browser's `Sec-Fetch-Site` / `Origin` against that host (cross-site form posts).
/// Clients that send neither header, as programs do, are not affected by the second check.
struct RequestGuard: Sendable {
    /// Lower-cased host names without port; `*` allows any.
    let allowedHosts: Set<String>

    /// `configured` as set; empty means: loopback names when `boundHost` is a loopback address,
    /// any host otherwise.
    init(configured: [String], boundHost: String) {
        if !configured.isEmpty {
            allowedHosts = Set(configured.map { $0.lowercased() })
        } else if ["localhost", "::1"].contains(boundHost) || boundHost.hasPrefix("127.") {
            allowedHosts = ["localhost", "127.0.0.1", "::1"]
        } else {
            allowedHosts = ["*"]
        }
    }

    private static let unsafeMethods: Set<HTTPMethod> = [.post, .put, .patch, .delete]

    func check(_ request: HTTPRequest) throws(APIError) {
        // The host of an absolute-form target replaces Host; an HTTP/1.0 request may name none,
        // and is then refused wherever the host matters.
        let host = request.authority
        if !allowedHosts.contains("*") {
            guard let host else {
                throw APIError(status: .badRequest, slug: "host-not-allowed",
                               detail: "the request names no host (Host field); allowed: \(allowedHosts.sorted().joined(separator: ", ")) (server.allowed_hosts)")
            }
            guard allowedHosts.contains(Self.name(ofAuthority: host)) else {
                throw APIError(status: .badRequest, slug: "host-not-allowed",
                               detail: "Host '\(host)' is not served here; allowed: \(allowedHosts.sorted().joined(separator: ", ")) (server.allowed_hosts)")
            }
        }
        guard Self.unsafeMethods.contains(request.method) else { return }
        if let site = request.headers["Sec-Fetch-Site"]?.lowercased() {
            guard site == "same-origin" || site == "none" else { throw Self.crossOrigin("Sec-Fetch-Site is \(site)") }
        } else if let origin = request.headers["Origin"] {
            let authority = origin.range(of: "://").map { String(origin[$0.upperBound...]) }
            guard let authority, let host, authority.lowercased() == host.lowercased() else {
                throw Self.crossOrigin("Origin \(origin) is not this server (\(host ?? "no Host"))")
            }
        }
    }

    private static func crossOrigin(_ why: String) -> APIError {
        APIError(status: HTTPStatus(code: 403), slug: "cross-origin", detail: "cross-site requests may not change state: \(why)")
    }

    /// `example.com:8080` -> `example.com`, `[::1]:80` -> `::1`.
    static func name(ofAuthority authority: String) -> String {
        let text = authority.lowercased()
        if text.hasPrefix("["), let end = text.firstIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<end])
        }
        if text.utf8.count(where: { $0 == UInt8(ascii: ":") }) == 1, let colon = text.firstIndex(of: ":") { return String(text[..<colon]) }
        return text
    }
}
