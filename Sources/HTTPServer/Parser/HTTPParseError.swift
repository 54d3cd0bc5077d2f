/// Why a request could not be parsed; each case maps to the status the server answers with.
public enum HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRequestLine(String)
    case invalidMethod(String)
    case invalidRequestTarget(String)
    case invalidVersion(String)
    case unsupportedVersion(String)
    case requestLineTooLong(limit: Int)
    case headerSectionTooLarge(limit: Int)
    case tooManyHeaders(limit: Int)
    case invalidHeaderName(String)
    case invalidHeaderValue(name: String)
    case obsoleteLineFolding(line: String)
    case bareLineFeed
    case missingHost
    case duplicateHost
    case duplicateContentLength
    case invalidContentLength(String)
    case contentLengthWithTransferEncoding
    case transferEncodingInHTTP10
    case invalidTransferEncoding(String)
    case unsupportedTransferCoding(String)
    case unsupportedExpectation(String)
    case bodyTooLarge(limit: Int)
    case bodyMemoryExhausted(limit: Int)
    case invalidChunkSize(String)
    case invalidChunkExtension(String)
    case chunkLineTooLong(limit: Int)
    case missingChunkDelimiter

    /// The response status for this error (RFC 9110 §15, RFC 9112).
    public var status: HTTPStatus {
        switch self {
        case .requestLineTooLong: .uriTooLong
        case .headerSectionTooLarge, .tooManyHeaders: .requestHeaderFieldsTooLarge
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferCoding: .notImplemented
        case .unsupportedExpectation: .expectationFailed
        case .bodyTooLarge: .contentTooLarge
        case .bodyMemoryExhausted: .serviceUnavailable
        default: .badRequest
        }
    }

    /// Seconds a client should wait before trying again, for errors that pass with time.
    public var retryAfterSeconds: Int? {
        if case .bodyMemoryExhausted = self { return 1 }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidRequestLine(let line): "malformed request line \(Self.excerpt(line))"
        case .invalidMethod(let method): "invalid method token \(Self.excerpt(method))"
        case .invalidRequestTarget(let target): "invalid request target \(Self.excerpt(target))"
        case .invalidVersion(let version): "malformed HTTP version \(Self.excerpt(version))"
        case .unsupportedVersion(let version): "HTTP version \(Self.excerpt(version)) is not supported; use HTTP/1.1"
        case .requestLineTooLong(let limit): "request line longer than \(limit) bytes"
        case .headerSectionTooLarge(let limit): "header section larger than \(limit) bytes"
        case .tooManyHeaders(let limit): "more than \(limit) header fields"
        case .invalidHeaderName(let name): "invalid header field name \(Self.excerpt(name))"
        case .invalidHeaderValue(let name): "invalid characters in the value of header field \(Self.excerpt(name))"
        case .obsoleteLineFolding(let line): "obsolete line folding is not accepted (line \(Self.excerpt(line)))"
        case .bareLineFeed: "line ended by LF without CR"
        case .missingHost: "HTTP/1.1 request without a Host header field"
        case .duplicateHost: "more than one Host header field"
        case .duplicateContentLength: "more than one Content-Length value"
        case .invalidContentLength(let value): "invalid Content-Length \(Self.excerpt(value))"
        case .contentLengthWithTransferEncoding: "both Content-Length and Transfer-Encoding are present"
        case .transferEncodingInHTTP10: "Transfer-Encoding in an HTTP/1.0 request"
        case .invalidTransferEncoding(let value): "Transfer-Encoding \(Self.excerpt(value)) must end with a single chunked"
        case .unsupportedTransferCoding(let coding): "transfer coding \(Self.excerpt(coding)) is not implemented"
        case .unsupportedExpectation(let value): "expectation \(Self.excerpt(value)) is not supported"
        case .bodyTooLarge(let limit): "request body larger than \(limit) bytes"
        case .bodyMemoryExhausted(let limit): "the server is receiving as many request bodies as it holds at once (\(limit) bytes in all); retry shortly"
        case .invalidChunkSize(let line): "invalid chunk size line \(Self.excerpt(line))"
        case .invalidChunkExtension(let line): "invalid chunk extension in \(Self.excerpt(line))"
        case .chunkLineTooLong(let limit): "chunk size line longer than \(limit) bytes"
        case .missingChunkDelimiter: "chunk data not followed by CRLF"
        }
    }

    /// Quotes client-supplied text, cut to 100 characters so error bodies stay small.
    private static func excerpt(_ text: String) -> String {
        let cut = text.count > 100 ? text.prefix(100) + "…" : Substring(text)
        return "'\(cut)'"
    }
}
