/// An RFC 9457 problem object: the body of every error this server or the layer above reports.
public struct ProblemDetails: Codable, Hashable, Sendable {
    public static let mediaType = "application/problem+json"

    /// A URI naming the problem type; `about:blank` when the status says it all.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    public var instance: String?

    public init(type: String = "about:blank", title: String, status: Int, detail: String? = nil, instance: String? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.instance = instance
    }

    /// The object as compact JSON with members in a fixed order; written by hand so it cannot fail.
    public var jsonBytes: [UInt8] {
        var members = ["\"type\":\(ProblemDetails.quoted(type))", "\"title\":\(ProblemDetails.quoted(title))", "\"status\":\(status)"]
        if let detail { members.append("\"detail\":\(ProblemDetails.quoted(detail))") }
        if let instance { members.append("\"instance\":\(ProblemDetails.quoted(instance))") }
        return Array("{\(members.joined(separator: ","))}".utf8)
    }

    /// A JSON string literal for `text` (RFC 8259 §7 escapes).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
