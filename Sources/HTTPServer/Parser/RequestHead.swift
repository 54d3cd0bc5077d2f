/// A complete, validated request head and what it implies for the body.
struct RequestHead {
    let requestLine: RequestLine
    let headers: HTTPHeaders
    let framing: BodyFraming
    /// True when the client waits for `100 Continue` before sending a body (RFC 9110 §10.1.1).
    let expectsContinue: Bool
}
