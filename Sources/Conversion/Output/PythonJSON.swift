import Foundation

/// A JSON value written byte for byte as Python's `json.dump(value, f, indent=2)` writes it
/// (ASCII only, floats in `repr` form), so the Swift and Python converters agree on config.json.
package indirect enum PythonJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case array([PythonJSON])
    case object([(String, PythonJSON)])

    package static func == (a: PythonJSON, b: PythonJSON) -> Bool { a.dumped() == b.dumped() }

    /// The text `json.dump(..., indent=2)` writes, without a trailing newline.
    package func dumped(indent: Int = 0) -> String {
        let inner = String(repeating: " ", count: indent + 2), outer = String(repeating: " ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .float(let f): return Self.repr(f)
        case .string(let s): return Self.quoted(s)
        case .array(let items):
            guard !items.isEmpty else { return "[]" }
            return "[\n" + items.map { inner + $0.dumped(indent: indent + 2) }.joined(separator: ",\n") + "\n\(outer)]"
        case .object(let entries):
            guard !entries.isEmpty else { return "{}" }
            return "{\n" + entries.map { inner + Self.quoted($0.0) + ": " + $0.1.dumped(indent: indent + 2) }.joined(separator: ",\n") + "\n\(outer)}"
        }
    }

    /// Python's `repr(float)`: the shortest round-trip digits, positional for decimal exponents
    /// from -4 to 15, scientific (`1e-05`, `1e+16`) outside them; json's spellings of the
    /// non-finite values.
    static func repr(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Infinity" : "Infinity" }
        if x == 0 { return x.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description has the same shortest digits; only the layout differs.
        let text = "\(x.magnitude)"
        let parts = text.split(separator: "e")
        let mantissa = parts[0], exponent = parts.count > 1 ? Int(parts[1])! : 0
        let dot = mantissa.firstIndex(of: ".") ?? mantissa.endIndex
        var digits = Array(mantissa.filter { $0 != "." })
        var point = mantissa.distance(from: mantissa.startIndex, to: dot) + exponent  // value = 0.digits x 10^point
        while digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.last == "0" { digits.removeLast() }
        let sign = x < 0 ? "-" : ""
        if point > -4 && point <= 16 {
            if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + String(digits) }
            if point >= digits.count { return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0" }
            return sign + String(digits[..<point]) + "." + String(digits[point...])
        }
        let e = point - 1
        let body = digits.count == 1 ? String(digits) : "\(digits[0])." + String(digits[1...])
        return sign + body + "e" + (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
    }

    /// json's ASCII string: `"`, `\`, and control characters escaped by name, every other
    /// character outside printable ASCII as `\uXXXX` (UTF-16 units).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(unit)!)
            default: out += String(format: "\\u%04x", unit)
            }
        }
        return out + "\""
    }
}
