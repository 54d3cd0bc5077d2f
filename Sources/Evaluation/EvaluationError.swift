/// Why an evaluation could not run, naming the file, image and segment at fault.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case missingPrediction(imageID: String)
    case sizeMismatch(image: String, gtPixels: Int, predPixels: Int)
    case segmentNotInJSON(image: String, id: UInt32)
    case segmentNotInPNG(image: String, ids: [UInt32])
    case unknownCategory(image: String, id: UInt32, categoryID: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .missingPrediction(id): return "no prediction for the image with id: \(id)"
        case let .sizeMismatch(image, g, p): return "\(image): ground truth has \(g) pixels, prediction \(p)"
        case let .segmentNotInJSON(image, id): return "in the image \(image) segment with id \(id) is in the PNG and not in the JSON"
        case let .segmentNotInPNG(image, ids): return "in the image \(image) segment ids \(ids) are in the JSON and not in the PNG"
        case let .unknownCategory(image, id, c): return "in the image \(image) segment with id \(id) has unknown category_id \(c)"
        }
    }
}
