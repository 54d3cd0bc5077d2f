/// Errors raised by the runtime; each carries the tensor name or values at fault.
public enum NNError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(name: String, expected: [Int], actual: [Int])
    case missingTensor(name: String)
    case unexpectedTensors(names: [String])
    case unsupportedDType(name: String, dtype: String)
    case invalidFile(path: String, reason: String)
    case invalidTensorEntry(name: String, reason: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(name, expected, actual):
            return "tensor '\(name)': expected shape \(expected), got \(actual)"
        case let .missingTensor(name):
            return "missing tensor '\(name)'"
        case let .unexpectedTensors(names):
            let shown = names.prefix(5).joined(separator: ", ")
            return "unexpected tensors (\(names.count)): \(shown)\(names.count > 5 ? ", ..." : "")"
        case let .unsupportedDType(name, dtype):
            return "tensor '\(name)': unsupported dtype \(dtype) (F32, F16, BF16 are read)"
        case let .invalidFile(path, reason):
            return "\(path): \(reason)"
        case let .invalidTensorEntry(name, reason):
            return "tensor '\(name)': \(reason)"
        case let .invalidArgument(message):
            return message
        }
    }
}
