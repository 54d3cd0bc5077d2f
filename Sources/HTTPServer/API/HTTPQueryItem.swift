/// One `name=value` pair of a query string, percent-decoded with `+` read as space (form encoding).
public struct HTTPQueryItem: Hashable, Sendable {
    public var name: String
    /// The decoded value; empty when the item had no `=`.
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Splits a raw query (the part after `?`) on `&` and decodes each item; empty items are skipped.
    public static func parse(_ rawQuery: String) -> [HTTPQueryItem] {
        rawQuery.utf8.split(separator: UInt8(ascii: "&")).map { item in
            let equals = item.firstIndex(of: UInt8(ascii: "="))
            let name = item[..<(equals ?? item.endIndex)]
            let value = equals.map { item[item.index(after: $0)...] } ?? item[item.endIndex...]
            return HTTPQueryItem(name: formDecode(name), value: formDecode(value))
        }
    }

    /// Percent-decodes `text`, turning `+` into space; malformed escapes are kept literally.
    static func formDecode(_ text: Substring.UTF8View) -> String {
        let bytes = Array(text)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = HTTPSyntax.hexValue(bytes[index + 1]), let low = HTTPSyntax.hexValue(bytes[index + 2]) {
                decoded.append(high << 4 | low)
                index += 3
                continue
            }
            decoded.append(bytes[index] == UInt8(ascii: "+") ? UInt8(ascii: " ") : bytes[index])
            index += 1
        }
        return String(decoding: decoded, as: UTF8.self)
    }
}
