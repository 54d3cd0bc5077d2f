import Foundation

/// Python's conversions the converter applies to configuration values (`float(x)`, `int(x)`,
/// `str(x)`), with a typed error where Python would raise.
extension PickleValue {
    package func float(_ what: String) throws(CheckpointError) -> Double {
        switch self {
        case .int(let i): return Double(i)
        case .float(let f): return f
        case .bool(let b): return b ? 1 : 0
        case .string(let s):
            if let f = Double(s.trimmingCharacters(in: .whitespaces)) { return f }
        default: break
        }
        throw .unsupported("\(what) is \(text), not a number")
    }

    package func int(_ what: String) throws(CheckpointError) -> Int {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .float(let f) where f.isFinite && f.magnitude < 0x1p63: return Int(f)  // truncates, as int() does
        case .string(let s):
            if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
        default: break
        }
        throw .unsupported("\(what) is \(text), not an integer")
    }

    /// Roughly Python's `str(x)`, for messages.
    package var text: String {
        switch self {
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .float(let f): PythonJSON.repr(f)
        case .string(let s): s
        default: "a \(typeName)"
        }
    }
}
