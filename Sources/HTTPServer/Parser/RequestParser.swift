import Foundation

/// Incremental RFC 9112 request parser, free of I/O: feed it any slices of bytes (one at a time
/// works) and it reports each complete request; several pipelined requests may share one slice.
struct RequestParser {
    /// What a call to `parse` found.
    enum Event {
        /// The head announced a body and asked for `100 Continue` before sending it.
        case expectsContinue
        case request(HTTPRequest)
    }

    /// Coarse progress, for timeouts: nothing of a request yet, a head arriving, or a body arriving.
    enum Phase: Equatable { case idle, head, body }

    private enum State {
        case requestLine
        case fieldLines(RequestHeadBuilder)
        case fixedBody
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd(sawCR: Bool)
        case trailerLines
        case failed(HTTPParseError)
    }

    /// Where `takeLine` left a complete line.
    private enum Line {
        case incomplete
        case input(Range<Int>)
        case buffered
    }

    /// Longest chunk size line, extensions included; generous, since extensions carry nothing we use.
    static let maxChunkLineBytes = 4096
    /// First allocation for a Content-Length body; it doubles as bytes arrive, so a large announced
    /// length costs memory only once the client actually sends it.
    static let initialBodyAllocation = 256 * 1024

    private let limits: HTTPServerConfiguration.Limits
    private var state = State.requestLine
    private var partialLine: [UInt8] = []
    private var sectionBytes = 0
    private var emptyLineBytes = 0
    private var head: RequestHead?
    private var body: [UInt8] = []
    private var bodyFilled = 0
    private var bodyLength = 0
    private var trailers = HTTPHeaders()
    /// The server-wide budget bodies in flight share (nil: unbounded), and this body's claim on it.
    private let budget: BodyMemoryBudget?
    private var lease: BodyLease?

    init(limits: HTTPServerConfiguration.Limits, budget: BodyMemoryBudget? = nil) {
        self.limits = limits
        self.budget = budget
    }

    var phase: Phase {
        switch state {
        case .requestLine: partialLine.isEmpty ? .idle : .head
        case .fieldLines: .head
        case .failed: .idle
        default: .body
        }
    }

    /// True while a Content-Length body is arriving, so `readBodyDirectly` can take socket bytes without a copy.
    var acceptsDirectBodyRead: Bool {
        if case .fixedBody = state { return true }
        return false
    }

    /// Consumes bytes from `input` until it is exhausted or an event occurs; call again with the rest.
    mutating func parse(_ input: UnsafeRawBufferPointer) throws(HTTPParseError) -> (consumed: Int, event: Event?) {
        var index = 0
        do {
            while index < input.count {
                if let event = try step(input, &index) { return (index, event) }
            }
        } catch {
            state = .failed(error)
            throw error
        }
        return (index, nil)
    }

    /// Lets `read` fill the body storage directly (e.g. from a socket); it returns the byte count written, or
    /// 0 or less for none. Returns nil unless a Content-Length body is arriving.
    mutating func readBodyDirectly(
        _ read: (UnsafeMutableRawBufferPointer) -> Int
    ) -> (count: Int, request: HTTPRequest?)? {
        guard acceptsDirectBodyRead else { return nil }
        let start = bodyFilled
        // Storage grows with what arrives (doubling), not to the announced length at once.
        let window = reserveBody(upTo: max(RequestParser.initialBodyAllocation, bodyFilled))
        let count = body.withUnsafeMutableBytes { read(UnsafeMutableRawBufferPointer(rebasing: $0[start..<(start + window)])) }
        guard count > 0 else { return (count, nil) }
        bodyFilled += count
        return (count, bodyFilled == bodyLength ? completeRequest() : nil)
    }

    private mutating func step(_ input: UnsafeRawBufferPointer, _ index: inout Int) throws(HTTPParseError) -> Event? {
        switch state {
        case .requestLine:
            let line = try takeLine(input, &index, maxBytes: limits.maxRequestLineBytes + 2,
                                    tooLong: .requestLineTooLong(limit: limits.maxRequestLineBytes))
            return try withLine(line, input) { (parser, bytes) throws(HTTPParseError) in try parser.acceptRequestLine(bytes) }
        case .fieldLines(let builder):
            let line = try takeLine(input, &index, maxBytes: limits.maxHeaderBytes - sectionBytes,
                                    tooLong: .headerSectionTooLarge(limit: limits.maxHeaderBytes))
            return try withLine(line, input) { (parser, bytes) throws(HTTPParseError) in try parser.acceptFieldLine(bytes, builder) }
        case .trailerLines:
            let line = try takeLine(input, &index, maxBytes: limits.maxHeaderBytes - sectionBytes,
                                    tooLong: .headerSectionTooLarge(limit: limits.maxHeaderBytes))
            return try withLine(line, input) { (parser, bytes) throws(HTTPParseError) in try parser.acceptTrailerLine(bytes) }
        case .fixedBody:
            let count = reserveBody(upTo: input.count - index)
            let (start, source) = (bodyFilled, UnsafeRawBufferPointer(rebasing: input[index..<(index + count)]))
            body.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: start).copyMemory(from: source.baseAddress!, byteCount: count) }
            bodyFilled += count
            index += count
            return bodyFilled == bodyLength ? .request(completeRequest()) : nil
        case .chunkSize:
            let line = try takeLine(input, &index, maxBytes: RequestParser.maxChunkLineBytes,
                                    tooLong: .chunkLineTooLong(limit: RequestParser.maxChunkLineBytes))
            return try withLine(line, input) { (parser, bytes) throws(HTTPParseError) in try parser.acceptChunkSize(bytes) }
        case .chunkData(let remaining):
            let count = min(remaining, input.count - index)
            body.append(contentsOf: input[index..<(index + count)])
            index += count
            state = count == remaining ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - count)
            return nil
        case .chunkDataEnd(let sawCR):
            let expected = sawCR ? HTTPSyntax.lf : HTTPSyntax.cr
            guard input[index] == expected else { throw .missingChunkDelimiter }
            index += 1
            state = sawCR ? .chunkSize : .chunkDataEnd(sawCR: true)
            return nil
        case .failed(let error):
            throw error
        }
    }

    /// Finds the next LF; a line of at most `maxBytes` (CRLF included) is returned in place or, when it
    /// spans calls, in `partialLine`. A LF without CR is rejected, as RFC 9112 §2.2 allows.
    private mutating func takeLine(
        _ input: UnsafeRawBufferPointer, _ index: inout Int, maxBytes: Int, tooLong: HTTPParseError
    ) throws(HTTPParseError) -> Line {
        let start = index
        let available = input.count - start
        let searchLength = min(available, max(0, maxBytes - partialLine.count))
        guard let found = memchr(input.baseAddress! + start, Int32(HTTPSyntax.lf), searchLength) else {
            if available > searchLength { throw tooLong }
            partialLine.append(contentsOf: input[start...])
            index = input.count
            return .incomplete
        }
        let lf = start + (input.baseAddress! + start).distance(to: UnsafeRawPointer(found))
        index = lf + 1
        if partialLine.isEmpty {
            guard lf > start, input[lf - 1] == HTTPSyntax.cr else { throw .bareLineFeed }
            return .input(start..<(lf - 1))
        }
        partialLine.append(contentsOf: input[start..<lf])
        guard partialLine.last == HTTPSyntax.cr else { throw .bareLineFeed }
        partialLine.removeLast()
        return .buffered
    }

    /// Runs `body` on a complete line, wherever `takeLine` left it.
    private mutating func withLine(
        _ line: Line, _ input: UnsafeRawBufferPointer,
        _ body: (inout RequestParser, UnsafeRawBufferPointer) throws(HTTPParseError) -> Event?
    ) throws(HTTPParseError) -> Event? {
        switch line {
        case .incomplete:
            return nil
        case .input(let range):
            return try body(&self, UnsafeRawBufferPointer(rebasing: input[range]))
        case .buffered:
            var bytes: [UInt8] = []
            swap(&bytes, &partialLine)
            // Array.withUnsafeBytes erases typed throws, so the outcome travels as a Result.
            let outcome = bytes.withUnsafeBytes { buffer -> Result<Event?, HTTPParseError> in
                do throws(HTTPParseError) { return .success(try body(&self, buffer)) } catch { return .failure(error) }
            }
            return try outcome.get()
        }
    }

    private mutating func acceptRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> Event? {
        // RFC 9112 §2.2: empty lines before a request line are ignored, within the request line budget.
        guard !line.isEmpty else {
            emptyLineBytes += 2
            if emptyLineBytes > limits.maxRequestLineBytes { throw .requestLineTooLong(limit: limits.maxRequestLineBytes) }
            return nil
        }
        emptyLineBytes = 0
        sectionBytes = 0
        state = .fieldLines(RequestHeadBuilder(requestLine: try RequestLine(parsing: line)))
        return nil
    }

    private mutating func acceptFieldLine(
        _ line: UnsafeRawBufferPointer, _ builder: RequestHeadBuilder
    ) throws(HTTPParseError) -> Event? {
        sectionBytes += line.count + 2
        if line.isEmpty { return try acceptHead(try builder.finish(maxBodyBytes: limits.maxBodyBytes)) }
        let field = try FieldLine(parsing: line)
        guard builder.headers.count < limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
        var builder = builder
        // Drop the state's copy first so the builder's header storage is uniquely referenced and grows in place.
        state = .requestLine
        builder.add(field)
        state = .fieldLines(builder)
        return nil
    }

    private mutating func acceptTrailerLine(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> Event? {
        sectionBytes += line.count + 2
        if line.isEmpty { return .request(completeRequest()) }
        let field = try FieldLine(parsing: line)
        guard trailers.count < limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
        trailers.add(name: field.name, value: field.value)
        return nil
    }

    private mutating func acceptHead(_ head: RequestHead) throws(HTTPParseError) -> Event? {
        self.head = head
        switch head.framing {
        case .none, .length(0):
            return .request(completeRequest())
        case .length(let length):
            try claimBudget(length)
            bodyLength = length
            bodyFilled = 0
            state = .fixedBody
        case .chunked:
            state = .chunkSize
        }
        return head.expectsContinue ? .expectsContinue : nil
    }

    private mutating func acceptChunkSize(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> Event? {
        let size = try ChunkSizeLine.size(of: line)
        guard size <= limits.maxBodyBytes - body.count else { throw .bodyTooLarge(limit: limits.maxBodyBytes) }
        try claimBudget(size)
        if size == 0 {
            sectionBytes = 0
            state = .trailerLines
        } else {
            state = .chunkData(remaining: size)
        }
        return nil
    }

    /// Makes room for up to `wanted` more body bytes and returns how many fit now. Storage grows by
    /// doubling without zero-filling: bytes past `bodyFilled` are always written before anyone reads them.
    private mutating func reserveBody(upTo wanted: Int) -> Int {
        let wanted = min(wanted, bodyLength - bodyFilled)
        if body.count - bodyFilled < wanted {
            let newCount = min(bodyLength, max(bodyFilled + wanted, body.count * 2, RequestParser.initialBodyAllocation))
            let filled = bodyFilled
            body = body.withUnsafeBytes { old in
                [UInt8](unsafeUninitializedCapacity: newCount) { storage, initializedCount in
                    if filled > 0 { UnsafeMutableRawBufferPointer(storage).copyMemory(from: UnsafeRawBufferPointer(rebasing: old[..<filled])) }
                    initializedCount = newCount
                }
            }
        }
        return min(wanted, body.count - bodyFilled)
    }

    /// Claims `bytes` more of the server's body budget for the body in progress.
    private mutating func claimBudget(_ bytes: Int) throws(HTTPParseError) {
        guard let budget, bytes > 0 else { return }
        if lease == nil { lease = BodyLease(budget) }
        guard lease!.extend(by: bytes) else { throw .bodyMemoryExhausted(limit: budget.limit) }
    }

    private mutating func completeRequest() -> HTTPRequest {
        let head = self.head!
        var request = HTTPRequest(
            method: head.requestLine.method, target: head.requestLine.target, version: head.requestLine.version,
            headers: head.headers, trailers: trailers)
        swap(&request.body, &body)
        self.head = nil
        lease = nil
        trailers = HTTPHeaders()
        bodyFilled = 0
        bodyLength = 0
        state = .requestLine
        return request
    }
}
