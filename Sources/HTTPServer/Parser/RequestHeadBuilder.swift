/// Collects a request's field lines and checks the framing rules of RFC 9112 §6 once the head is complete.
struct RequestHeadBuilder {
    let requestLine: RequestLine
    private(set) var headers = HTTPHeaders()
    private var contentLengths: [String] = []
    private var transferCodings: [String] = []
    private var transferEncodingValues: [String] = []
    private var hostCount = 0
    private var expectations: [String] = []

    init(requestLine: RequestLine) { self.requestLine = requestLine }

    mutating func add(_ field: FieldLine) {
        headers.add(name: field.name, value: field.value)
        switch field.name.utf8.count {
        case 4 where Self.named(field, "host"):
            hostCount += 1
        case 6 where Self.named(field, "expect"):
            expectations += HTTPSyntax.listElements(field.value).map { $0.lowercased() }
        case 14 where Self.named(field, "content-length"):
            contentLengths.append(field.value)
        case 17 where Self.named(field, "transfer-encoding"):
            transferEncodingValues.append(field.value)
            transferCodings += HTTPSyntax.listElements(field.value).map { $0.lowercased() }
        default:
            break
        }
    }

    /// Validates framing and expectations; `maxBodyBytes` rejects an announced length early (before 100 Continue).
    func finish(maxBodyBytes: Int) throws(HTTPParseError) -> RequestHead {
        let version = requestLine.version
        if version == .http1_1 && hostCount == 0 { throw .missingHost }
        if hostCount > 1 { throw .duplicateHost }
        let framing = try self.framing(maxBodyBytes: maxBodyBytes)
        // RFC 9110 §10.1.1: a server ignores 100-continue from HTTP/1.0 clients.
        var expectsContinue = false
        if version == .http1_1 {
            for expectation in expectations {
                guard expectation == "100-continue" else { throw .unsupportedExpectation(expectation) }
                expectsContinue = framing != .none && framing != .length(0)
            }
        }
        return RequestHead(requestLine: requestLine, headers: headers, framing: framing, expectsContinue: expectsContinue)
    }

    private func framing(maxBodyBytes: Int) throws(HTTPParseError) -> BodyFraming {
        if !transferEncodingValues.isEmpty {
            if !contentLengths.isEmpty { throw .contentLengthWithTransferEncoding }
            if requestLine.version == .http1_0 { throw .transferEncodingInHTTP10 }
            let joined = transferEncodingValues.joined(separator: ", ")
            guard transferCodings.last == "chunked", transferCodings.filter({ $0 == "chunked" }).count == 1 else {
                throw .invalidTransferEncoding(joined)
            }
            if let unknown = transferCodings.first(where: { $0 != "chunked" }) { throw .unsupportedTransferCoding(unknown) }
            return .chunked
        }
        guard let value = contentLengths.first else { return .none }
        guard contentLengths.count == 1, !value.contains(",") else { throw .duplicateContentLength }
        guard !value.isEmpty, value.utf8.allSatisfy({ HTTPSyntax.decimalValue($0) != nil }) else {
            throw .invalidContentLength(value)
        }
        // All digits: a failed conversion can only mean a number too large for Int.
        guard let length = Int(value), length <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
        return .length(length)
    }

    private static func named(_ field: FieldLine, _ lowercaseName: String) -> Bool {
        HTTPSyntax.equalsIgnoringCase(field.name.utf8, lowercaseName.utf8)
    }
}
