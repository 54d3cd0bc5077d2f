/// Why a client's image, mask or label map cannot be used: refused at submission, or the
/// failure of a job whose input turns out unusable when it runs (stored with `code`).
public enum InputError: Error, CustomStringConvertible {
    case empty(part: String)
    case tooManyPixels(part: String, width: Int, height: Int, limit: Int)
    case unsupportedFormat(part: String, what: String)
    case undecodable(part: String, reason: String)
    case sizeMismatch(part: String, width: Int, height: Int, imageWidth: Int, imageHeight: Int)
    case tooManySegments(count: Int, capacity: Int)
    case missingMask

    /// The code a job failed by this error is stored with. The API serves failure codes as
    /// problem types (`/problems/<code>`), here and at submission alike, so a client sees one
    /// type for one cause.
    public var code: String {
        switch self {
        case .empty: "bad-request"
        case .tooManyPixels: "too-large"
        case .unsupportedFormat: "unsupported-media-type"
        case .undecodable: "undecodable"
        case .sizeMismatch: "size-mismatch"
        case .tooManySegments, .missingMask: "invalid-mask"
        }
    }

    public var description: String {
        switch self {
        case .empty(let part): "the \(part) is empty"
        case .tooManyPixels(let part, let w, let h, let limit): "\(part) is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit)"
        case .unsupportedFormat(let part, let what): "\(part): \(what); send PNG or JPEG"
        case .undecodable(let part, let reason): "\(part) cannot be decoded: \(reason)"
        case .sizeMismatch(let part, let w, let h, let width, let height): "\(part) is \(w)x\(h); the image is \(width)x\(height)"
        case .tooManySegments(let count, let capacity):
            "mask: \(count) distinct segment ids among the known pixels; the model has room for \(capacity)"
        case .missingMask: "the job has no mask"
        }
    }
}
