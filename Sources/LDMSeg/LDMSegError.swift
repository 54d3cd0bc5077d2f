/// Errors of model loading and inference, with the values at fault.
public enum LDMSegError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(String)
    case invalidModelDirectory(path: String, reason: String)
    case invalidImage(width: Int, height: Int, reason: String)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case invalidMask(reason: String)
    case invalidOption(name: String, value: String, reason: String)
    case cancelled

    public var description: String {
        switch self {
        case let .invalidConfig(m): return "invalid model config: \(m)"
        case let .invalidModelDirectory(path, reason): return "model directory \(path): \(reason)"
        case let .invalidImage(w, h, reason): return "image \(w)x\(h): \(reason)"
        case let .tooManyPixels(w, h, limit): return "image \(w)x\(h) has \(w * h) pixels, over the limit of \(limit)"
        case let .invalidMask(reason): return "invalid mask: \(reason)"
        case let .invalidOption(name, value, reason): return "option \(name)=\(value): \(reason)"
        case .cancelled: return "cancelled"
        }
    }
}
