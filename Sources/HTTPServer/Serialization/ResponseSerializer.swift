/// Turns a handler's response into wire bytes: status line, headers the server owns, body or none.
enum ResponseSerializer {
    static let continueBytes: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Header fields the server writes itself; a handler's values for them are dropped.
    private static let serverOwned = ["content-length", "transfer-encoding", "connection"]

    /// The head bytes and the body bytes to send. A response with a status or header that could split
    /// the message (bad name, CR/LF/NUL in a value) is replaced by a 500 problem rather than sent.
    static func serialize(_ response: HTTPResponse, context: ResponseContext, date: String) -> (head: [UInt8], body: [UInt8]) {
        guard isWellFormed(response) else {
            let replacement = HTTPResponse.problem(.internalServerError, detail: "the handler produced an invalid header field")
            return serialize(replacement, context: context, date: date)
        }
        let status = response.status
        var head: [UInt8] = []
        head.reserveCapacity(128 + response.headers.count * 48)
        append(&head, "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        if !response.headers.contains("date") { append(&head, "Date: \(date)\r\n") }
        var handlerLength: String?
        for field in response.headers {
            if let owned = serverOwned.first(where: { HTTPSyntax.equalsIgnoringCase($0.utf8, field.name.utf8) }) {
                if owned == "content-length" { handlerLength = field.value }
                continue
            }
            append(&head, "\(field.name): \(field.value)\r\n")
        }
        if context.closeConnection {
            append(&head, "Connection: close\r\n")
        } else if context.version == .http1_0 {
            append(&head, "Connection: keep-alive\r\n")
        }
        if status.forbidsBody {
            append(&head, "\r\n")
            return (head, [])
        }
        if response.stream != nil {
            // HTTP/1.0 has no chunked coding: the stream ends with the connection.
            append(&head, context.version == .http1_0 ? "\r\n" : "Transfer-Encoding: chunked\r\n\r\n")
            return (head, [])
        }
        // A HEAD-aware handler may send no body but the length the GET would have had.
        let length = context.isHeadRequest && response.body.isEmpty
            ? handlerLength.flatMap { Int($0) }.map(String.init) ?? "0"
            : String(response.body.count)
        append(&head, "Content-Length: \(length)\r\n\r\n")
        return (head, context.isHeadRequest ? [] : response.body)
    }

    /// True when `serialize` framed `response` for its `stream`: the stream's bytes follow the head.
    static func streams(_ response: HTTPResponse, context: ResponseContext) -> Bool {
        response.stream != nil && !context.isHeadRequest && !response.status.forbidsBody && isWellFormed(response)
    }

    /// One chunk of a streamed body (RFC 9112 §7.1); empty bytes make the last chunk.
    static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
    }

    private static func isWellFormed(_ response: HTTPResponse) -> Bool {
        (100...999).contains(response.status.code)
            && response.status.reasonPhrase.utf8.allSatisfy(HTTPSyntax.isFieldValueByte)
            && response.headers.allSatisfy { field in
            HTTPSyntax.isToken(field.name.utf8) && field.value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte)
        }
    }

    @inline(__always)
    private static func append(_ bytes: inout [UInt8], _ text: String) {
        bytes.append(contentsOf: text.utf8)
    }
}
