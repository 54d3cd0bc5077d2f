import Dispatch
import Foundation

/// One client socket. It lives on its event loop's queue and is touched only there: reads feed
/// the connection machine, whose actions become handler tasks, writes and closes.
final class SocketConnection: @unchecked Sendable {
    private enum State {
        case open
        /// Our side is shut down after the last response; input is read and dropped until the
        /// peer closes or the deadline passes, so a client still sending gets no reset.
        case lingering(until: UInt64)
        case closed
    }

    /// How long a closing connection waits for the peer to finish sending.
    static let lingerTimeout: UInt64 = 2_000_000_000

    private let fd: Int32
    private let loop: EventLoop
    private let remoteAddress: SocketAddress?
    private let immediate: HTTPImmediateHandler?
    private let handler: HTTPHandler
    /// Where handlers run.
    private let executor: RequestExecutor
    private var machine: ConnectionStateMachine
    private let readSource: DispatchSourceRead
    private var writeSource: DispatchSourceWrite?
    private var readSuspended = false
    /// Waiting for the loop's next window (see `LoopBudget`).
    private var parked = false
    private var writeArmed = false
    private var liveSources = 1
    private var pendingWrite: PendingWrite?
    private var state = State.open
    private var sawEndOfInput = false
    private let slowBudget: SlowRequestBudget
    private let slowAfter: UInt64
    /// This connection holds one place of `slowBudget`.
    private var countedSlow = false
    /// A streamed response body in progress (after its head).
    private var stream: StreamedBody?

    private struct StreamedBody {
        /// Not yet read: reading starts once the head is written.
        var source: AsyncStream<[UInt8]>?
        var reader: Task<Void, Never>?
        /// Framed bytes waiting for the socket.
        var queued: [UInt8] = []
        var ended = false
        let chunked: Bool
    }

    /// Bytes a stream may have waiting for a client that does not read; past it the connection closes.
    static let maxQueuedStreamBytes = 1 << 20

    init(fd: Int32, remoteAddress: SocketAddress?, loop: EventLoop, configuration: HTTPServerConfiguration,
         bodyBudget: BodyMemoryBudget, slowBudget: SlowRequestBudget, immediate: HTTPImmediateHandler?,
         handler: @escaping HTTPHandler, executor: RequestExecutor) {
        self.slowBudget = slowBudget
        slowAfter = UInt64(max(0, configuration.limits.slowRequestSeconds) * 1e9)
        self.fd = fd
        self.loop = loop
        self.remoteAddress = remoteAddress
        self.immediate = immediate
        self.handler = handler
        self.executor = executor
        machine = ConnectionStateMachine(configuration: configuration, budget: bodyBudget, now: EventLoop.now())
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
    }

    /// Starts reading; call on the loop's queue. The sources keep the connection alive until cancelled.
    func start() {
        readSource.setEventHandler { self.readable() }
        readSource.setCancelHandler { self.sourceCancelled() }
        readSource.resume()
    }

    func tick(now: UInt64) {
        switch state {
        case .open:
            perform(machine.timerFired(now: now))
            checkSlow(now: now)
        case .lingering(let until) where now >= until: closeNow()
        case .lingering, .closed: break
        }
    }

    /// Claims a slow place while a request has been arriving longer than `slowAfter`, gives it
    /// back once it is not; when no place is left, the request is refused.
    private func checkSlow(now: UInt64) {
        let slow = machine.arrivingSince.map { now &- $0 >= slowAfter } ?? false
        if slow && !countedSlow {
            if slowBudget.claim() { countedSlow = true } else { perform(machine.refuseSlowRequest(now: now)) }
        } else if !slow && countedSlow {
            slowBudget.release()
            countedSlow = false
        }
    }

    func beginShutdown() {
        guard case .open = state else { return }
        perform(machine.beginShutdown(now: EventLoop.now()))
    }

    /// Closes at once, whatever is in progress (shutdown deadline).
    func closeNow() {
        if case .closed = state { return }
        state = .closed
        machine.abort()
        pendingWrite = nil
        endStream()
        readSource.cancel()
        if readSuspended { readSource.resume() }
        if let writeSource {
            writeSource.cancel()
            if !writeArmed { writeSource.resume() }
        }
    }

    /// Reads what arrived, unless the loop has spent its share while jobs run (`LoopBudget`):
    /// then reading stops until the loop's next window.
    private func readable() {
        guard loop.mayRead(self) else {
            parked = true
            return updateReadInterest()
        }
        loop.charged { readAvailable() }
    }

    /// The loop's window has turned: reading resumes, with whatever arrived meanwhile.
    func unpark() {
        parked = false
        if case .closed = state { return }
        updateReadInterest()
        readable()
    }

    /// Reads until the socket is drained, not just once: a read that fills its whole buffer may leave
    /// bytes behind, and libdispatch's epoll backend has been seen not to report them again (a
    /// lingering drain stalled with half a megabyte unread). After `readsPerEvent` full reads the
    /// connection yields the queue to its neighbours and continues in a fresh turn.
    private func readAvailable() {
        for _ in 0..<SocketConnection.readsPerEvent {
            if readSuspended { return }
            let mayHaveMore: Bool
            switch state {
            case .open: mayHaveMore = readRequestBytes()
            case .lingering: mayHaveMore = discardInput()
            case .closed: return
            }
            updateReadInterest()
            guard mayHaveMore else { return }
        }
        loop.queue.async { self.readable() }
    }

    static let readsPerEvent = 16

    /// One read into the request; true when it filled the space offered, so more may be waiting.
    private func readRequestBytes() -> Bool {
        let now = EventLoop.now()
        if machine.wantsDirectBodyRead {
            // Content-Length bodies go straight from the socket into the request's storage.
            var failure: Int32 = EAGAIN
            var offered = 0
            let (count, action) = machine.receiveBodyDirectly(now: now) { buffer in
                offered = buffer.count
                let count = read(fd, buffer.baseAddress, buffer.count)
                if count < 0 { failure = errno }
                return count
            }
            guard count > 0 else { return readFailed(count, errno: failure, now: now) }
            perform(action)
            return count == offered
        }
        let buffer = loop.readBuffer
        let count = read(fd, buffer.baseAddress, buffer.count)
        guard count > 0 else { return readFailed(count, errno: errno, now: now) }
        perform(machine.received(UnsafeRawBufferPointer(rebasing: buffer[..<count]), now: now))
        return count == buffer.count
    }

    /// Handles EOF (the request side ends) and errors (EINTR retries, EAGAIN waits, others close).
    private func readFailed(_ count: Int, errno code: Int32, now: UInt64) -> Bool {
        if count == 0 {
            sawEndOfInput = true
            perform(machine.inputEnded(now: now))
            return false
        }
        if code == EINTR { return true }
        if code != EAGAIN && code != EWOULDBLOCK { closeNow() }
        return false
    }

    /// One read of input that is dropped while lingering; closes on EOF or error.
    private func discardInput() -> Bool {
        let buffer = loop.readBuffer
        let count = read(fd, buffer.baseAddress, buffer.count)
        if count == buffer.count { return true }
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { closeNow() }
        return count < 0 && errno == EINTR
    }

    private func perform(_ action: ConnectionAction) {
        switch action {
        case .none:
            break
        case .dispatch(var request):
            request.remoteAddress = remoteAddress
            if let response = immediate?(request) {
                responseReady(response)
                return
            }
            let handler = self.handler
            Task(executorPreference: executor) {
                let response = await handler(request)
                self.loop.execute { self.responseReady(response) }
            }
        case .write(let response, let context):
            let (head, body) = ResponseSerializer.serialize(response, context: context, date: loop.date())
            if let source = response.stream {
                if ResponseSerializer.streams(response, context: context) {
                    stream = StreamedBody(source: source, chunked: context.version != .http1_0)
                } else {
                    Self.discard(source)
                }
            }
            startWrite(PendingWrite(head: head, body: body))
        case .writeContinue:
            startWrite(PendingWrite(head: ResponseSerializer.continueBytes, body: []))
        case .close:
            closeGracefully()
        }
        updateReadInterest()
    }

    private func responseReady(_ response: HTTPResponse) {
        guard case .open = state else { return }
        loop.charged { perform(machine.responseReady(response, now: EventLoop.now())) }
    }

    private func startWrite(_ write: PendingWrite) {
        pendingWrite = write
        flush()
    }

    private func flush() {
        while var write = pendingWrite {
            let count = write.send(to: fd)
            if count < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: armWrite()
                default: closeNow()
                }
                return
            }
            let now = EventLoop.now()
            guard write.isComplete else {
                pendingWrite = write
                machine.wroteSome(now: now)
                continue
            }
            pendingWrite = nil
            if stream != nil { return continueStream(now: now) }
            disarmWrite()
            perform(machine.writeCompleted(now: now))
            return
        }
    }

    // MARK: - Streamed bodies

    /// After a write: starts reading the stream (after the head), sends what it queued, or, once
    /// it ended and all is sent, completes the response.
    private func continueStream(now: UInt64) {
        guard case .open = state, var body = stream else { return }
        if let source = body.source {
            body.source = nil
            body.reader = Task { [loop] in
                for await bytes in source where !bytes.isEmpty {
                    loop.execute { self.streamYielded(bytes) }
                }
                loop.execute { self.streamFinished() }
            }
        }
        if !body.queued.isEmpty {
            let bytes = body.queued
            body.queued = []
            stream = body
            return startWrite(PendingWrite(head: bytes, body: []))
        }
        if body.ended {
            stream = nil
            disarmWrite()
            return perform(machine.writeCompleted(now: now))
        }
        stream = body
        disarmWrite()
    }

    private func streamYielded(_ bytes: [UInt8]) {
        guard case .open = state, var body = stream else { return }
        body.queued += body.chunked ? ResponseSerializer.chunk(bytes) : bytes
        guard body.queued.count <= Self.maxQueuedStreamBytes else { return closeNow() }
        stream = body
        // Only a socket that keeps up counts as progress; a stalled one runs into the write timeout.
        guard pendingWrite == nil else { return }
        let now = EventLoop.now()
        machine.wroteSome(now: now)
        continueStream(now: now)
    }

    private func streamFinished() {
        guard case .open = state, var body = stream else { return }
        body.ended = true
        if body.chunked { body.queued += ResponseSerializer.chunk([]) }
        stream = body
        if pendingWrite == nil { continueStream(now: EventLoop.now()) }
    }

    /// Stops reading the stream (its producer sees the cancellation).
    private func endStream() {
        stream?.reader?.cancel()
        if let source = stream?.source { Self.discard(source) }
        stream = nil
    }

    /// A stream that will never be sent (HEAD, a replaced response) is cancelled at once.
    private static func discard(_ source: AsyncStream<[UInt8]>) {
        Task { for await _ in source {} }.cancel()
    }

    private func armWrite() {
        guard !writeArmed else { return }
        writeArmed = true
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
            source.setEventHandler { self.flush() }
            source.setCancelHandler { self.sourceCancelled() }
            writeSource = source
            liveSources += 1
        }
        writeSource?.resume()
    }

    private func disarmWrite() {
        guard writeArmed else { return }
        writeArmed = false
        writeSource?.suspend()
    }

    /// Reading stops while the machine applies backpressure, and resumes when it catches up.
    private func updateReadInterest() {
        let wanted: Bool
        switch state {
        case .open: wanted = machine.wantsRead && !parked
        case .lingering: wanted = !parked
        case .closed: return
        }
        if wanted && readSuspended {
            readSuspended = false
            readSource.resume()
        } else if !wanted && !readSuspended {
            readSuspended = true
            readSource.suspend()
        }
    }

    /// Closes after the machine's last response. Closing with unread input makes the kernel send a
    /// reset that can destroy that response at the client, so when input may still be coming we shut
    /// down our side and linger instead; otherwise (peer done, nothing pending, a stuck write) at once.
    private func closeGracefully() {
        var unread: Int32 = 0
        _ = ioctl(fd, UInt(FIONREAD), &unread)
        let mayStillSend = !sawEndOfInput && (machine.abandonedInput || unread > 0)
        guard mayStillSend, pendingWrite == nil else { return closeNow() }
        shutdown(fd, Int32(SHUT_WR))
        state = .lingering(until: EventLoop.now() + SocketConnection.lingerTimeout)
    }

    /// The socket is closed only once no dispatch source watches it any more.
    private func sourceCancelled() {
        liveSources -= 1
        guard liveSources == 0 else { return }
        if countedSlow {
            slowBudget.release()
            countedSlow = false
        }
        close(fd)
        loop.connectionClosed(self)
    }
}
