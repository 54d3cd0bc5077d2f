@testable import HTTPServer

/// Feeds bytes to a `RequestParser` in slices of a chosen size and records what it reports.
struct ParserDriver {
    enum Record: Equatable {
        case expectsContinue
        case request(String)
    }

    var records: [Record] = []
    var requests: [HTTPRequest] = []
    var error: HTTPParseError?
    private var parser: RequestParser

    init(limits: HTTPServerConfiguration.Limits = .init()) {
        parser = RequestParser(limits: limits)
    }

    /// Parses `bytes` split into slices of `sliceSize` bytes; stops at the first error.
    static func run(_ text: String, sliceSize: Int = .max, limits: HTTPServerConfiguration.Limits = .init()) -> ParserDriver {
        var driver = ParserDriver(limits: limits)
        driver.feed(Array(text.utf8), sliceSize: sliceSize)
        return driver
    }

    mutating func feed(_ bytes: [UInt8], sliceSize: Int = .max) {
        var start = 0
        while start < bytes.count, error == nil {
            let end = min(bytes.count, start + min(sliceSize, bytes.count))
            feedSlice(Array(bytes[start..<end]))
            start = end
        }
    }

    var phase: RequestParser.Phase { parser.phase }

    private mutating func feedSlice(_ slice: [UInt8]) {
        slice.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                do throws(HTTPParseError) {
                    let (consumed, event) = try parser.parse(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                    offset += consumed
                    switch event {
                    case .expectsContinue: records.append(.expectsContinue)
                    case .request(let request):
                        records.append(.request(request.target))
                        requests.append(request)
                    case nil: break
                    }
                } catch {
                    self.error = error
                    return
                }
            }
        }
    }
}
