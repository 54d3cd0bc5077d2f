import Foundation

/// A multipart/form-data body (RFC 7578) split into its parts; preamble and epilogue are ignored.
public struct MultipartFormData: Sendable, Equatable {
    public var parts: [MultipartPart]

    public init(parts: [MultipartPart]) { self.parts = parts }

    /// Parses `body` using the boundary of `contentType` (which must be multipart/form-data).
    public init(body: [UInt8], contentType: String) throws(MultipartError) {
        try self.init(body: body, boundary: MultipartFormData.boundary(fromContentType: contentType))
    }

    /// Parses `body` delimited by `boundary` (without the leading dashes).
    public init(body: [UInt8], boundary: String) throws(MultipartError) {
        try MultipartFormData.validate(boundary: boundary)
        parts = try body.withUnsafeBytes { bytes in
            Result { () throws(MultipartError) in try MultipartFormData.parse(bytes, delimiter: Array("--\(boundary)".utf8)) }
        }.get()
    }

    /// The first part whose field name is `name`.
    public func part(named name: String) -> MultipartPart? {
        parts.first { $0.name == name }
    }

    /// The `boundary` parameter of a `multipart/form-data` content type, quoted or not.
    public static func boundary(fromContentType contentType: String) throws(MultipartError) -> String {
        guard let parsed = ParameterizedHeaderValue(parsing: contentType), parsed.hasValue("multipart/form-data") else {
            throw .notMultipartFormData(contentType: contentType)
        }
        guard let boundary = parsed.parameter("boundary") else { throw .missingBoundary(contentType: contentType) }
        return boundary
    }

    /// RFC 2046 §5.1.1: 1-70 of DIGIT ALPHA ' ( ) + _ , - . / : = ? and space, not ending in space.
    private static func validate(boundary: String) throws(MultipartError) {
        let allowed = Set("'()+_,-./:=? ".utf8)
        let bytes = Array(boundary.utf8)
        let valid = (1...70).contains(bytes.count) && bytes.last != UInt8(ascii: " ")
            && bytes.allSatisfy { allowed.contains($0) || HTTPSyntax.decimalValue($0) != nil || isLetter($0) }
        if !valid { throw .invalidBoundary(boundary) }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(HTTPSyntax.lowercased(byte))
    }

    /// Walks delimiter to delimiter: `--boundary`, padding, CRLF, headers, CRLF, content, CRLF `--boundary`, ... `--`.
    private static func parse(_ body: UnsafeRawBufferPointer, delimiter: [UInt8]) throws(MultipartError) -> [MultipartPart] {
        let crlf: [UInt8] = [HTTPSyntax.cr, HTTPSyntax.lf]
        let boundaryText = String(decoding: delimiter.dropFirst(2), as: UTF8.self)
        // The first delimiter opens the body or follows a CRLF that ends the preamble.
        var position: Int
        if body.starts(with: delimiter), endsDelimiter(body, at: delimiter.count) {
            position = delimiter.count
        } else if let found = findDelimiter(crlf + delimiter, in: body, from: 0) {
            position = found + 2 + delimiter.count
        } else {
            throw .missingFirstBoundary(boundary: boundaryText)
        }
        var parts: [MultipartPart] = []
        while true {
            let partIndex = parts.count
            if body[position...].starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")]) { return parts }
            while position < body.count, HTTPSyntax.isWhitespace(body[position]) { position += 1 }
            guard body[position...].starts(with: crlf) else {
                if position >= body.count - 1 { throw .missingClosingBoundary(partsParsed: partIndex) }
                throw .malformedBoundaryLine(partIndex: partIndex)
            }
            position += 2
            var headers = HTTPHeaders()
            while true {
                guard let lineEnd = find(crlf, in: body, from: position) else { throw .missingClosingBoundary(partsParsed: partIndex) }
                defer { position = lineEnd + 2 }
                if lineEnd == position { break }
                do throws(HTTPParseError) {
                    let field = try FieldLine(parsing: UnsafeRawBufferPointer(rebasing: body[position..<lineEnd]))
                    headers.add(name: field.name, value: field.value)
                } catch {
                    throw .malformedPartHeaders(partIndex: partIndex, reason: error.description)
                }
            }
            guard let contentEnd = findDelimiter(crlf + delimiter, in: body, from: position) else {
                throw .missingClosingBoundary(partsParsed: partIndex)
            }
            parts.append(try part(index: partIndex, headers: headers, body: Array(body[position..<contentEnd])))
            position = contentEnd + 2 + delimiter.count
        }
    }

    private static func part(index: Int, headers: HTTPHeaders, body: [UInt8]) throws(MultipartError) -> MultipartPart {
        guard let disposition = headers["Content-Disposition"] else { throw .missingContentDisposition(partIndex: index) }
        guard let parsed = ParameterizedHeaderValue(parsing: disposition), parsed.hasValue("form-data"),
              let name = parsed.parameter("name") else {
            throw .invalidContentDisposition(partIndex: index, value: disposition)
        }
        return MultipartPart(
            name: name, filename: parsed.parameter("filename"), contentType: headers["Content-Type"], headers: headers, body: body)
    }

    /// The next `needle` that is a real delimiter, i.e. followed by `--`, padding and CRLF, or the end of
    /// the body; a longer look-alike such as `--boundaryX` is content.
    private static func findDelimiter(_ needle: [UInt8], in body: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var start = start
        while let found = find(needle, in: body, from: start) {
            if endsDelimiter(body, at: found + needle.count) { return found }
            start = found + 1
        }
        return nil
    }

    private static func endsDelimiter(_ body: UnsafeRawBufferPointer, at index: Int) -> Bool {
        var index = index
        if body[index...].starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")]) { return true }
        while index < body.count, HTTPSyntax.isWhitespace(body[index]) { index += 1 }
        return index >= body.count - 1 || body[index] == HTTPSyntax.cr
    }

    /// Offset of the first `needle` in `haystack` at or after `start` (memchr for the first byte, then memcmp).
    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = haystack.baseAddress, haystack.count - start >= needle.count else { return nil }
        return needle.withUnsafeBytes { pattern in
            let lastStart = haystack.count - needle.count
            var offset = start
            while offset <= lastStart, let hit = memchr(base + offset, Int32(needle[0]), lastStart - offset + 1) {
                if memcmp(hit, pattern.baseAddress!, needle.count) == 0 { return base.distance(to: UnsafeRawPointer(hit)) }
                offset = base.distance(to: UnsafeRawPointer(hit)) + 1
            }
            return nil
        }
    }
}
