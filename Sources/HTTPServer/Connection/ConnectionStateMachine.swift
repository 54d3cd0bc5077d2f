/// The life of one connection without I/O: when to read, dispatch, write and close. Requests are
/// answered one at a time, so pipelined responses leave in request order; timeouts are checked
/// against monotonic nanosecond times the caller passes in.
struct ConnectionStateMachine {
    private enum Responder {
        case idle
        case awaitingHandler(ResponseContext)
        case writingResponse(closeAfter: Bool)
        case writingContinue
    }

    private struct Timeouts {
        let header: UInt64
        let body: UInt64
        let idle: UInt64
        let write: UInt64
        /// Bytes per second a body must average after the first `body` nanoseconds (0: no minimum).
        let minBodyRate: UInt64
    }

    private var parser: RequestParser
    /// Requests parsed but not yet dispatched (pipelining), oldest first.
    private var backlog: [HTTPRequest] = []
    /// Bytes held back unparsed while the backlog is full.
    private var unparsed: [UInt8] = []
    private var responder = Responder.idle
    /// No more request bytes will be parsed: EOF, an error, or a request that ends the connection.
    private var inputClosed = false
    /// An error response owed once the requests before the bad one are answered.
    private var failure: HTTPResponse?
    private var continueOwed = false
    private var draining = false
    private var answeredAny = false
    private(set) var isClosed = false
    /// Request bytes were left unread (an error, a timeout, or a close with more input queued): the
    /// client may still be sending, so closing must not reset the connection under our last response.
    private(set) var abandonedInput = false

    private let maxBacklog: Int
    private let timeouts: Timeouts
    private var idleSince: UInt64
    private var headStartedAt: UInt64
    private var lastReadAt: UInt64
    private var lastWriteAt: UInt64
    /// When the body in progress started arriving (nil outside a body), and its bytes so far.
    private var bodyStartedAt: UInt64?
    private var bodyBytes: UInt64 = 0

    /// `budget` is the server's shared allowance for bodies in flight (nil: unbounded).
    init(configuration: HTTPServerConfiguration, budget: BodyMemoryBudget? = nil, now: UInt64) {
        parser = RequestParser(limits: configuration.limits, budget: budget)
        maxBacklog = max(1, configuration.limits.maxPipelinedRequests)
        let timeouts = configuration.timeouts
        self.timeouts = Timeouts(
            header: timeouts.headerRead.nanoseconds, body: timeouts.bodyRead.nanoseconds,
            idle: timeouts.idle.nanoseconds, write: timeouts.write.nanoseconds,
            minBodyRate: UInt64(max(0, configuration.limits.minBodyRate)))
        (idleSince, headStartedAt, lastReadAt, lastWriteAt) = (now, now, now, now)
    }

    /// False while the backlog is full or input is over: the caller should stop reading (backpressure).
    var wantsRead: Bool { !isClosed && !inputClosed && unparsed.isEmpty && backlog.count < maxBacklog }

    /// True when the next bytes are Content-Length body bytes that `receiveBodyDirectly` can take.
    var wantsDirectBodyRead: Bool { wantsRead && parser.acceptsDirectBodyRead }

    mutating func received(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> ConnectionAction {
        guard !isClosed, !inputClosed else { return .none }
        lastReadAt = now
        if bodyStartedAt != nil { bodyBytes += UInt64(bytes.count) }
        consume(bytes, now: now)
        return advance(now: now)
    }

    /// Lets `read` write body bytes straight into the request (see `RequestParser.readBodyDirectly`);
    /// returns what `read` returned, so the caller can tell data from EOF or errors.
    mutating func receiveBodyDirectly(
        now: UInt64, _ read: (UnsafeMutableRawBufferPointer) -> Int
    ) -> (count: Int, action: ConnectionAction) {
        guard wantsDirectBodyRead, let (count, request) = parser.readBodyDirectly(read) else { return (0, .none) }
        if count > 0 {
            lastReadAt = now
            bodyBytes += UInt64(count)
        }
        if let request { accept(request) }
        return (count, advance(now: now))
    }

    /// The peer finished sending (EOF): answer what is complete, then close. A body cut short
    /// of what its head announced is answered 400, so a half-closing client learns why; a
    /// half-sent head just closes (nothing was asked yet).
    mutating func inputEnded(now: UInt64) -> ConnectionAction {
        guard !isClosed else { return .none }
        inputClosed = true
        continueOwed = false
        if parser.phase == .body, failure == nil {
            failure = HTTPResponse.problem(.badRequest, detail: "the request's body ended before the length its head announced")
        }
        return advance(now: now)
    }

    mutating func responseReady(_ response: HTTPResponse, now: UInt64) -> ConnectionAction {
        guard !isClosed, case .awaitingHandler(var context) = responder else { return .none }
        let lastPossible = inputClosed && backlog.isEmpty && failure == nil
        // A streamed body on HTTP/1.0 is delimited by the close.
        let closeDelimited = response.stream != nil && context.version == .http1_0 && !context.isHeadRequest
        context.closeConnection = context.closeConnection || draining || response.requestsClose || lastPossible || closeDelimited
        if context.closeConnection {
            abandonedInput = abandonedInput || !backlog.isEmpty || !unparsed.isEmpty || parser.phase != .idle
            inputClosed = true
            backlog.removeAll()
            unparsed.removeAll()
            failure = nil
            continueOwed = false
        }
        responder = .writingResponse(closeAfter: context.closeConnection)
        lastWriteAt = now
        return .write(response, context)
    }

    /// Some bytes of the current write left; the write timeout restarts.
    mutating func wroteSome(now: UInt64) {
        lastWriteAt = now
    }

    mutating func writeCompleted(now: UInt64) -> ConnectionAction {
        switch responder {
        case .writingResponse(let closeAfter):
            if closeAfter { return close() }
            responder = .idle
            idleSince = now
            answeredAny = true
        case .writingContinue:
            responder = .idle
            // The client sends the body only now, so the body timeout starts now.
            lastReadAt = now
            if bodyStartedAt != nil { (bodyStartedAt, bodyBytes) = (now, 0) }
        case .idle, .awaitingHandler:
            return .none
        }
        return advance(now: now)
    }

    /// Graceful shutdown: finish the request in progress (if its head has arrived), then close.
    mutating func beginShutdown(now: UInt64) -> ConnectionAction {
        draining = true
        return advance(now: now)
    }

    /// Checks the timeout of the current phase: slow heads and bodies get 408, idle or stuck connections close.
    mutating func timerFired(now: UInt64) -> ConnectionAction {
        guard !isClosed else { return .none }
        switch responder {
        case .awaitingHandler:
            return .none
        case .writingResponse, .writingContinue:
            return now >= deadline(lastWriteAt, timeouts.write) ? close() : .none
        case .idle:
            switch parser.phase {
            case .idle:
                // Before the first request the client gets the header timeout to start one.
                return now >= deadline(idleSince, answeredAny ? timeouts.idle : timeouts.header) ? close() : .none
            case .head:
                guard now >= deadline(max(headStartedAt, idleSince), timeouts.header) else { return .none }
                return timedOut("request head not received within the header timeout", now: now)
            case .body:
                if now >= deadline(max(lastReadAt, idleSince), timeouts.body) {
                    return timedOut("request body stalled longer than the body timeout", now: now)
                }
                // Past the grace of one body timeout, a body must keep up the minimum rate on average.
                guard timeouts.minBodyRate > 0, let started = bodyStartedAt else { return .none }
                let earned = Double(bodyBytes) / Double(timeouts.minBodyRate) * 1e9  // ns the bytes so far pay for
                guard Double(now) >= Double(started) + Double(timeouts.body) + earned else { return .none }
                return timedOut("request body arrived slower than \(timeouts.minBodyRate) bytes/s", now: now)
            }
        }
    }

    /// When the request now arriving began to arrive (head or body), nil when none is.
    var arrivingSince: UInt64? {
        guard !isClosed, !inputClosed, case .idle = responder else { return nil }
        switch parser.phase {
        case .idle: return nil
        case .head: return max(headStartedAt, idleSince)
        case .body: return bodyStartedAt ?? max(headStartedAt, idleSince)
        }
    }

    /// The server holds as many slow requests as it allows: this one is answered 408.
    mutating func refuseSlowRequest(now: UInt64) -> ConnectionAction {
        guard arrivingSince != nil else { return .none }
        return timedOut("the server is holding as many slowly arriving requests as it allows; send faster", now: now)
    }

    /// Marks the connection closed from outside (I/O error, forced shutdown).
    mutating func abort() {
        isClosed = true
    }

    private mutating func consume(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        var offset = 0
        while offset < bytes.count, !inputClosed {
            guard backlog.count < maxBacklog else {
                unparsed.append(contentsOf: bytes[offset...])
                return
            }
            if parser.phase == .idle { headStartedAt = now }
            do {
                let (consumed, event) = try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                offset += consumed
                if parser.phase == .body && bodyStartedAt == nil {
                    // The whole slice counts toward the body: generous by at most one head.
                    (bodyStartedAt, bodyBytes) = (now, UInt64(bytes.count))
                }
                switch event {
                case .expectsContinue: continueOwed = true
                case .request(let request): accept(request)
                case nil: break
                }
            } catch {
                failure = HTTPResponse.problem(error.status, detail: error.description)
                if let seconds = error.retryAfterSeconds { failure?.headers["Retry-After"] = "\(seconds)" }
                abandonedInput = true
                inputClosed = true
                continueOwed = false
            }
        }
    }

    private mutating func accept(_ request: HTTPRequest) {
        // The client may send the body without waiting; then no 100 is owed (RFC 9110 §10.1.1).
        continueOwed = false
        bodyStartedAt = nil
        backlog.append(request)
        if !request.keepAlive { inputClosed = true }
    }

    /// With nothing in progress, starts the next thing owed: a queued request, an error, a 100 Continue, or closing.
    private mutating func advance(now: UInt64) -> ConnectionAction {
        guard !isClosed, case .idle = responder else { return .none }
        if !unparsed.isEmpty, backlog.count < maxBacklog {
            var held: [UInt8] = []
            swap(&held, &unparsed)
            held.withUnsafeBytes { consume($0, now: now) }
        }
        if !backlog.isEmpty {
            let request = backlog.removeFirst()
            responder = .awaitingHandler(ResponseContext(
                version: request.version, isHeadRequest: request.method == .head, closeConnection: !request.keepAlive))
            return .dispatch(request)
        }
        if let failure {
            self.failure = nil
            return startWrite(failure, now: now)
        }
        if inputClosed || (draining && parser.phase != .body) { return close() }
        if continueOwed {
            continueOwed = false
            responder = .writingContinue
            lastWriteAt = now
            return .writeContinue
        }
        return .none
    }

    private mutating func timedOut(_ detail: String, now: UInt64) -> ConnectionAction {
        abandonedInput = true
        inputClosed = true
        continueOwed = false
        return startWrite(HTTPResponse.problem(.requestTimeout, detail: detail), now: now)
    }

    /// Writes a response the server made itself; the connection closes after it.
    private mutating func startWrite(_ response: HTTPResponse, now: UInt64) -> ConnectionAction {
        responder = .writingResponse(closeAfter: true)
        lastWriteAt = now
        return .write(response, ResponseContext(version: .http1_1, isHeadRequest: false, closeConnection: true))
    }

    private mutating func close() -> ConnectionAction {
        isClosed = true
        return .close
    }

    private func deadline(_ start: UInt64, _ timeout: UInt64) -> UInt64 {
        let (sum, overflow) = start.addingReportingOverflow(timeout)
        return overflow ? .max : sum
    }
}
