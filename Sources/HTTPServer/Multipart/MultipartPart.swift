/// One field or file of a multipart/form-data body.
public struct MultipartPart: Sendable, Equatable {
    /// The form field name from Content-Disposition.
    public var name: String
    /// The original file name, when the part is a file upload.
    public var filename: String?
    /// The part's Content-Type, nil when absent (RFC 7578 §4.4 then implies text/plain).
    public var contentType: String?
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(name: String, filename: String? = nil, contentType: String? = nil, headers: HTTPHeaders = [:], body: [UInt8]) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    /// The body as UTF-8 text (invalid sequences replaced), for plain form fields.
    public var text: String { String(decoding: body, as: UTF8.self) }
}
