import Dispatch
import Foundation

/// An HTTP/1.1 server on POSIX sockets (Linux, Glibc) and Dispatch: a listener, one serial event
/// loop per core owning the connections, and the handler run as a task per request on the
/// `RequestExecutor`'s threads. An instance
/// serves once: `start()`, later `shutdown(gracePeriod:)`.
public final class HTTPServer: Sendable {
    private enum Phase {
        case idle
        case running(Listener)
        case stopping
        case stopped
    }

    private struct State {
        var phase = Phase.idle
        var localAddress: SocketAddress?
        var openConnections = 0
        var nextLoop = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let configuration: HTTPServerConfiguration
    private let loops: [EventLoop]
    private let relay = LoopRelay()
    /// Where handlers run; shut down with the server when the server made it.
    private let executor: RequestExecutor
    private let ownsExecutor: Bool
    private let state = LockedValue(State())

    /// `contended` says whether other work needs the cores, so the event loops keep within
    /// `configuration.busyLoopShare`; it is asked only once a loop's share is spent. Handlers run
    /// on `executor`, or without one on threads of the server's own (`requestThreads`, lowered
    /// by `requestThreadNice`).
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), executor: RequestExecutor? = nil,
                immediate: HTTPImmediateHandler? = nil, contended: @escaping @Sendable () -> Bool = { false },
                handler: @escaping HTTPHandler) {
        self.configuration = configuration
        ownsExecutor = executor == nil
        let executor = executor ?? RequestExecutor(threads: configuration.requestThreads, nice: configuration.requestThreadNice,
                                                   name: "http-request")
        self.executor = executor
        let state = self.state
        let budget = BodyMemoryBudget(limit: configuration.limits.maxInflightBodyBytes)
        let limits = configuration.limits
        let slow = SlowRequestBudget(limit: max(1, Int(Double(limits.maxConnections) * limits.maxSlowConnectionShare)))
        let relay = self.relay
        loops = (0..<max(1, configuration.eventLoopCount)).map { index in
            EventLoop(index: index, configuration: configuration, bodyBudget: budget, slowBudget: slow, immediate: immediate,
                      handler: handler, executor: executor, relay: relay, contended: contended) {
                HTTPServer.connectionEnded(state)
            }
        }
    }

    deinit {
        if ownsExecutor { executor.shutdown() }
    }

    /// The bound address once started (with the real port when `port` was 0), nil before.
    public var localAddress: SocketAddress? { state.withLock { $0.localAddress } }

    /// Binds, listens and starts accepting; returns at once. Throws if binding fails or already started.
    public func start() throws(HTTPServerError) {
        // Binding happens under the lock, so a concurrent start or shutdown sees either nothing or a running server.
        try state.withLock { (state: inout State) throws(HTTPServerError) in
            guard case .idle = state.phase else { throw .alreadyStarted }
            let listener = try Listener(configuration: configuration) { [self] fd, remote in accepted(fd: fd, remote: remote) }
            loops.forEach { $0.start() }
            state.phase = .running(listener)
            state.localAddress = listener.address
            listener.start()
        }
    }

    /// Graceful shutdown: stops accepting, lets requests in progress finish (their responses say
    /// `Connection: close`), closes idle connections, and after `gracePeriod` closes whatever is left.
    /// Returns when every connection is closed. Calling it again, or before `start`, just waits for the end.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        let listener: Listener? = state.withLock { state in
            guard case .running(let listener) = state.phase else { return nil }
            state.phase = .stopping
            return listener
        }
        guard let listener else { return await waitUntilStopped() }
        await listener.stop()
        loops.forEach { $0.beginShutdown() }
        let forceClose = DispatchWorkItem { [loops] in loops.forEach { $0.closeAllNow() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(min(gracePeriod.nanoseconds, UInt64(Int.max)))), execute: forceClose)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state in
                if state.openConnections == 0 { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if drained { continuation.resume() }
        }
        forceClose.cancel()
        loops.forEach { $0.stop() }
        relay.stop()
        if ownsExecutor { executor.shutdown() }
        let waiters = state.withLock { state in
            state.phase = .stopped
            defer { state.stopWaiters = [] }
            return state.stopWaiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Suspends until a shutdown has completed (at once if the server is stopped or never started).
    public func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = state.withLock { state in
                switch state.phase {
                case .idle, .stopped: return true
                case .running, .stopping:
                    state.stopWaiters.append(continuation)
                    return false
                }
            }
            if stopped { continuation.resume() }
        }
    }

    /// Runs on the listener's queue for each accepted socket: spread over the loops, or 503 past the limit.
    private func accepted(fd: Int32, remote: SocketAddress?) {
        let loopIndex: Int? = state.withLock { state in
            guard state.openConnections < configuration.limits.maxConnections else { return nil }
            state.openConnections += 1
            state.nextLoop = (state.nextLoop + 1) % loops.count
            return state.nextLoop
        }
        guard let loopIndex else { return HTTPServer.refuse(fd) }
        loops[loopIndex].adopt(fd: fd, remoteAddress: remote)
    }

    /// Answers a connection over the limit with 503 and closes it without reading from it.
    private static func refuse(_ fd: Int32) {
        let response = HTTPResponse.problem(.serviceUnavailable, detail: "the server is at its connection limit; retry later")
        let context = ResponseContext(version: .http1_1, isHeadRequest: false, closeConnection: true)
        let (head, body) = ResponseSerializer.serialize(response, context: context, date: IMFFixdate.format(time(nil)))
        _ = PosixSocket.send(fd, head: head, body: body, from: 0)
        Glibc.shutdown(fd, Int32(SHUT_WR))
        close(fd)
    }

    private static func connectionEnded(_ state: LockedValue<State>) {
        let waiters = state.withLock { state in
            state.openConnections -= 1
            guard state.openConnections == 0 else { return [CheckedContinuation<Void, Never>]() }
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        waiters.forEach { $0.resume() }
    }
}
