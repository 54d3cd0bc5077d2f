/// What the request being answered implies for the framing of its response.
struct ResponseContext: Equatable {
    var version: HTTPVersion
    /// HEAD gets the headers of the full response but no body (RFC 9110 §9.3.2).
    var isHeadRequest: Bool
    /// The connection closes after this response, so it says `Connection: close`.
    var closeConnection: Bool
}
