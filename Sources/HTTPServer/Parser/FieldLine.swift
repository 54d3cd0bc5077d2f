/// One validated `name: value` field line (RFC 9112 §5); shared by headers, trailers and multipart part headers.
struct FieldLine {
    let name: String
    let value: String

    /// Parses a non-empty line given without its CRLF.
    init(parsing line: UnsafeRawBufferPointer) throws(HTTPParseError) {
        if let first = line.first, HTTPSyntax.isWhitespace(first) {
            throw .obsoleteLineFolding(line: String(decoding: line, as: UTF8.self))
        }
        guard let colon = line.firstIndex(of: HTTPSyntax.colon) else {
            throw .invalidHeaderName(String(decoding: line, as: UTF8.self))
        }
        let nameBytes = line[..<colon]
        // Whitespace between name and colon fails the token check, as RFC 9112 §5.1 demands.
        guard HTTPSyntax.isToken(nameBytes) else {
            throw .invalidHeaderName(String(decoding: nameBytes, as: UTF8.self))
        }
        name = String(decoding: nameBytes, as: UTF8.self)
        var start = colon + 1
        var end = line.endIndex
        while start < end, HTTPSyntax.isWhitespace(line[start]) { start += 1 }
        while end > start, HTTPSyntax.isWhitespace(line[end - 1]) { end -= 1 }
        let valueBytes = line[start..<end]
        guard valueBytes.allSatisfy(HTTPSyntax.isFieldValueByte) else { throw .invalidHeaderValue(name: name) }
        value = String(decoding: valueBytes, as: UTF8.self)
    }
}
