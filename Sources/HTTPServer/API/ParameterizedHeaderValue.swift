/// A header value of the form `value; name=token; name="quoted"` (Content-Type, Content-Disposition; RFC 9110 §5.6.6).
public struct ParameterizedHeaderValue: Sendable, Equatable {
    /// The leading value as sent, without surrounding whitespace (e.g. `multipart/form-data`).
    public var value: String
    /// Parameters by lowercased name, quoted values unescaped; the first of repeated names wins.
    public var parameters: [String: String]

    /// Parses `text`; nil when a parameter is malformed (no `=`, bad token, unterminated quote).
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        var index = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.endIndex
        value = String(HTTPSyntax.trimmingWhitespace(Substring(decoding: bytes[..<index], as: UTF8.self)))
        parameters = [:]
        while index < bytes.endIndex {
            index += 1 // past ";"
            Self.skipWhitespace(bytes, &index)
            // Tolerate empty parameters (";;" or a trailing ";"), as many clients send them.
            if index == bytes.endIndex || bytes[index] == UInt8(ascii: ";") { continue }
            let nameStart = index
            while index < bytes.endIndex, HTTPSyntax.isTokenByte(bytes[index]) { index += 1 }
            guard index > nameStart, index < bytes.endIndex, bytes[index] == UInt8(ascii: "=") else { return nil }
            let name = String(decoding: bytes[nameStart..<index], as: UTF8.self).lowercased()
            index += 1
            guard let parameterValue = Self.parameterValue(bytes, &index) else { return nil }
            if parameters[name] == nil { parameters[name] = parameterValue }
            Self.skipWhitespace(bytes, &index)
            guard index == bytes.endIndex || bytes[index] == UInt8(ascii: ";") else { return nil }
        }
    }

    /// The value of parameter `name` (case-insensitive).
    public func parameter(_ name: String) -> String? { parameters[name.lowercased()] }

    /// True when the leading value equals `other`, ignoring ASCII case (media types compare so).
    public func hasValue(_ other: String) -> Bool { HTTPSyntax.equalsIgnoringCase(value.utf8, other.utf8) }

    private static func skipWhitespace(_ bytes: [UInt8], _ index: inout Int) {
        while index < bytes.endIndex, HTTPSyntax.isWhitespace(bytes[index]) { index += 1 }
    }

    /// A token, or a quoted-string with its quoted-pairs unescaped.
    private static func parameterValue(_ bytes: [UInt8], _ index: inout Int) -> String? {
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "\"") else {
            let start = index
            while index < bytes.endIndex, HTTPSyntax.isTokenByte(bytes[index]) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }
        var unescaped: [UInt8] = []
        index += 1
        while index < bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: unescaped, as: UTF8.self)
            case UInt8(ascii: "\\") where index + 1 < bytes.endIndex:
                unescaped.append(bytes[index + 1])
                index += 2
            case let byte where HTTPSyntax.isFieldValueByte(byte):
                unescaped.append(byte)
                index += 1
            default:
                return nil
            }
        }
        return nil
    }
}
