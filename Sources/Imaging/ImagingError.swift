/// Why an image could not be read or written.
public enum ImagingError: Error, Equatable, CustomStringConvertible {
    case unsupportedFormat(String)
    case corrupt(format: String, reason: String)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case emptyImage

    public var description: String {
        switch self {
        case let .unsupportedFormat(what): return "unsupported image format: \(what)"
        case let .corrupt(format, reason): return "corrupt \(format): \(reason)"
        case let .tooManyPixels(w, h, limit): return "image is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit)"
        case .emptyImage: return "image has no pixels"
        }
    }
}
