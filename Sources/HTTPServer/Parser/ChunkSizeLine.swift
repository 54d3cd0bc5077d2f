/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1.1): the size is returned, extensions are validated and dropped.
enum ChunkSizeLine {
    /// Parses a chunk size line given without its CRLF; sizes beyond `Int.max` saturate (the body limit rejects them).
    static func size(of line: UnsafeRawBufferPointer) throws(HTTPParseError) -> Int {
        var index = 0
        var size = 0
        var saturated = false
        while index < line.count, let digit = HTTPSyntax.hexValue(line[index]) {
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            saturated = saturated || overflow || shifted > Int.max - Int(digit)
            size = saturated ? .max : shifted + Int(digit)
            index += 1
        }
        guard index > 0 else { throw .invalidChunkSize(String(decoding: line, as: UTF8.self)) }
        guard validExtensions(line[index...]) else { throw .invalidChunkExtension(String(decoding: line, as: UTF8.self)) }
        return size
    }

    /// `*( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) BWS`.
    private static func validExtensions(_ bytes: Slice<UnsafeRawBufferPointer>) -> Bool {
        var index = bytes.startIndex
        func skipWhitespace() { while index < bytes.endIndex, HTTPSyntax.isWhitespace(bytes[index]) { index += 1 } }
        func skipToken() -> Bool {
            let start = index
            while index < bytes.endIndex, HTTPSyntax.isTokenByte(bytes[index]) { index += 1 }
            return index > start
        }
        while true {
            skipWhitespace()
            guard index < bytes.endIndex else { return true }
            guard bytes[index] == UInt8(ascii: ";") else { return false }
            index += 1
            skipWhitespace()
            guard skipToken() else { return false }
            skipWhitespace()
            guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            skipWhitespace()
            guard index < bytes.endIndex else { return false }
            if bytes[index] == UInt8(ascii: "\"") {
                guard skipQuotedString(bytes, &index) else { return false }
            } else if !skipToken() {
                return false
            }
        }
    }

    /// Advances past `"..."` with qdtext and quoted-pairs (RFC 9110 §5.6.4); false if malformed or unterminated.
    static func skipQuotedString(_ bytes: Slice<UnsafeRawBufferPointer>, _ index: inout Int) -> Bool {
        index += 1
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return true
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.endIndex, HTTPSyntax.isFieldValueByte(bytes[index + 1]) else { return false }
                index += 2
            default:
                guard HTTPSyntax.isFieldValueByte(byte) else { return false }
                index += 1
            }
        }
        return false
    }
}
