import Foundation

extension HTTPResponse {
    /// The headers a 304 keeps from the 200 it stands for (RFC 9110 §15.4.5).
    private static let notModifiedHeaders = ["Cache-Control", "Content-Location", "ETag", "Expires", "Vary"]

    /// This response, or a bodiless 304 when it is a 200 with an `ETag` that the GET or HEAD
    /// request's `If-None-Match` already names (RFC 9110 §13.1.2, weak comparison).
    public func evaluatingConditions(of request: HTTPRequest) -> HTTPResponse {
        guard status == .ok, stream == nil, request.method == .get || request.method == .head,
              let tag = headers["ETag"], let condition = request.headers.values(for: "If-None-Match").nonEmpty,
              Self.entityTags(in: condition.joined(separator: ",")).contains(where: { $0 == "*" || Self.weaklyEqual($0, tag) })
        else { return self }
        var kept = HTTPHeaders()
        for name in Self.notModifiedHeaders { if let value = headers[name] { kept[name] = value } }
        return HTTPResponse(status: .notModified, headers: kept)
    }

    /// The entity tags of an `If-None-Match` list; a tag's quoted part may hold commas.
    static func entityTags(in field: String) -> [String] {
        var tags: [String] = []
        var current = ""
        var quoted = false
        for character in field {
            if character == "\"" { quoted.toggle() }
            if character == "," && !quoted {
                tags.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        tags.append(current.trimmingCharacters(in: .whitespaces))
        return tags.filter { !$0.isEmpty }
    }

    /// Weak comparison: equal opaque tags, either or both marked weak (`W/`).
    static func weaklyEqual(_ a: String, _ b: String) -> Bool {
        func opaque(_ tag: String) -> Substring { tag.hasPrefix("W/") ? tag.dropFirst(2) : Substring(tag) }
        return opaque(a) == opaque(b)
    }
}

private extension Array {
    var nonEmpty: Self? { isEmpty ? nil : self }
}
