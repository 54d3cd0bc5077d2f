/// Why a multipart/form-data body was rejected; parts are counted from 0.
public enum MultipartError: Error, Equatable, Sendable, CustomStringConvertible {
    case notMultipartFormData(contentType: String)
    case missingBoundary(contentType: String)
    /// The boundary breaks RFC 2046 §5.1.1 (1 to 70 characters from a restricted set, no trailing space).
    case invalidBoundary(String)
    case missingFirstBoundary(boundary: String)
    /// The body ended before the `--boundary--` line.
    case missingClosingBoundary(partsParsed: Int)
    /// Something other than whitespace followed a boundary on its line.
    case malformedBoundaryLine(partIndex: Int)
    case malformedPartHeaders(partIndex: Int, reason: String)
    case missingContentDisposition(partIndex: Int)
    /// Content-Disposition is not `form-data` with a `name` parameter (RFC 7578 §4.2).
    case invalidContentDisposition(partIndex: Int, value: String)

    public var description: String {
        switch self {
        case .notMultipartFormData(let contentType): "content type '\(contentType)' is not multipart/form-data"
        case .missingBoundary(let contentType): "content type '\(contentType)' has no boundary parameter"
        case .invalidBoundary(let boundary): "invalid multipart boundary '\(boundary)'"
        case .missingFirstBoundary(let boundary): "the body contains no '--\(boundary)' delimiter"
        case .missingClosingBoundary(let parts): "the body ends without a closing boundary (after \(parts) complete parts)"
        case .malformedBoundaryLine(let index): "unexpected characters after the boundary before part \(index)"
        case .malformedPartHeaders(let index, let reason): "part \(index) has malformed headers: \(reason)"
        case .missingContentDisposition(let index): "part \(index) has no Content-Disposition header"
        case .invalidContentDisposition(let index, let value): "part \(index) has Content-Disposition '\(value)', expected form-data with a name"
        }
    }
}
