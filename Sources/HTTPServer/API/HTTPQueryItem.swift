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

    /// Percent-decodes `bytes`, turning `+` into space; malformed escapes are kept literally.
    static func formDecode(_ bytes: Substring.UTF8View) -> String {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"),
                      let high = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex), high < bytes.endIndex,
                      let low = bytes.index(index, offsetBy: 2, limitedBy: bytes.endIndex), low < bytes.endIndex,
                      let highValue = HTTPSyntax.hexValue(bytes[high]), let lowValue = HTTPSyntax.hexValue(bytes[low]) {
                decoded.append(highValue << 4 | lowValue)
                index = low
            } else {
                decoded.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: decoded, as: UTF8.self)
    }
}
