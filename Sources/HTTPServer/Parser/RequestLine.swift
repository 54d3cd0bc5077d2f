/// `method SP request-target SP HTTP-version` (RFC 9112 §3), validated.
struct RequestLine {
    let method: HTTPMethod
    let target: String
    let version: HTTPVersion

    /// Parses a request line given without its CRLF.
    init(parsing line: UnsafeRawBufferPointer) throws(HTTPParseError) {
        let text = { String(decoding: line, as: UTF8.self) }
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.space),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.space) else {
            throw .invalidRequestLine(text())
        }
        let methodBytes = line[..<firstSpace]
        guard HTTPSyntax.isToken(methodBytes) else { throw .invalidMethod(String(decoding: methodBytes, as: UTF8.self)) }
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let target = String(decoding: targetBytes, as: UTF8.self)
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidRequestTarget(target)
        }
        method = HTTPMethod(rawValue: String(decoding: methodBytes, as: UTF8.self))
        version = try RequestLine.version(line[(secondSpace + 1)...])
        guard RequestLine.isAcceptedForm(target, method: method) else { throw .invalidRequestTarget(target) }
        self.target = target
    }

    /// `HTTP/x.y`: 1.0 and 1.1 are served (higher 1.x minors as 1.1, RFC 9110 §2.5), other majors get 505.
    private static func version(_ bytes: Slice<UnsafeRawBufferPointer>) throws(HTTPParseError) -> HTTPVersion {
        let text = String(decoding: bytes, as: UTF8.self)
        let digits = Array(bytes.dropFirst(5))
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8), digits[1] == UInt8(ascii: "."),
              let major = HTTPSyntax.decimalValue(digits[0]), let minor = HTTPSyntax.decimalValue(digits[2]) else {
            throw .invalidVersion(text)
        }
        guard major == 1 else { throw .unsupportedVersion(text) }
        return minor == 0 ? .http1_0 : .http1_1
    }

    /// Origin-form, absolute-form (http/https) or, for OPTIONS only, asterisk-form (RFC 9112 §3.2).
    private static func isAcceptedForm(_ target: String, method: HTTPMethod) -> Bool {
        if target.hasPrefix("/") { return true }
        if target == "*" { return method == .options }
        let lowered = target.prefix(8).lowercased()
        return lowered.hasPrefix("http://") || lowered.hasPrefix("https://")
    }
}
