import Dispatch
import Foundation

/// A serial queue that owns a share of the connections: their socket events, timers and a shared
/// read buffer all run on it, so connection state needs no locks.
final class EventLoop: @unchecked Sendable {
    let queue: DispatchQueue
    /// Scratch space for socket reads; used only on `queue`, and copied out before the next read.
    let readBuffer: UnsafeMutableRawBufferPointer
    private let configuration: HTTPServerConfiguration
    private let bodyBudget: BodyMemoryBudget
    private let slowBudget: SlowRequestBudget
    private let immediate: HTTPImmediateHandler?
    private let handler: HTTPHandler
    private let executor: RequestExecutor
    private let connectionEnded: @Sendable () -> Void
    private let relay: LoopRelay
    private let contended: @Sendable () -> Bool
    /// CPU the loop spent on its connections in the current window.
    private var budget: LoopBudget
    /// Connections waiting for the next window to read; resumed by one timer.
    private var parked: [SocketConnection] = []
    private var connections: [ObjectIdentifier: SocketConnection] = [:]
    private var dateHeader = IMFFixdate()
    private var sweepTimer: DispatchSourceTimer?
    private var draining = false

    static let readBufferSize = 64 * 1024

    /// `connectionEnded` runs (on this queue) after each connection's socket is closed.
    init(index: Int, configuration: HTTPServerConfiguration, bodyBudget: BodyMemoryBudget, slowBudget: SlowRequestBudget,
         immediate: HTTPImmediateHandler?, handler: @escaping HTTPHandler, executor: RequestExecutor, relay: LoopRelay,
         contended: @escaping @Sendable () -> Bool, connectionEnded: @escaping @Sendable () -> Void) {
        self.relay = relay
        self.contended = contended
        budget = LoopBudget(share: configuration.busyLoopShare)
        self.bodyBudget = bodyBudget
        self.slowBudget = slowBudget
        queue = DispatchQueue(label: "HTTPServer.EventLoop.\(index)")
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        self.configuration = configuration
        self.immediate = immediate
        self.handler = handler
        self.executor = executor
        self.connectionEnded = connectionEnded
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Runs `body` on this loop's queue; from any thread (lowered ones hand it to the relay).
    func execute(_ body: @escaping @Sendable () -> Void) {
        relay.async(queue, body)
    }

    /// Whether `connection` may read now; if not, it is parked and resumed (`unpark`) when the
    /// window ends. Reading waits only while the loop's share is spent and `contended` holds.
    func mayRead(_ connection: SocketConnection) -> Bool {
        let now = EventLoop.now()
        guard budget.isSpent(now: now), contended() else { return true }
        if parked.isEmpty {
            queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: budget.windowEnd)) {
                let waiting = self.parked
                self.parked = []
                for connection in waiting { connection.unpark() }
            }
        }
        parked.append(connection)
        return false
    }

    /// Counts the time `body` takes against the loop's share. Wall time, not the thread's CPU
    /// time: its clock is a system call, a tenth of a status poll's cost, and a loop running
    /// at full priority is seldom preempted within one request.
    func charged<T>(_ body: () -> T) -> T {
        guard budget.allowance > 0 else { return body() }
        let start = EventLoop.now()
        defer {
            let end = EventLoop.now()
            budget.charge(end &- start, now: end)
        }
        return body()
    }

    /// Monotonic nanoseconds, the clock of every connection timeout.
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Starts the timer that checks connection timeouts, often enough for the shortest timeout.
    func start() {
        queue.async {
            let timeouts = self.configuration.timeouts
            let shortest = [timeouts.headerRead, timeouts.bodyRead, timeouts.idle, timeouts.write].min()!.nanoseconds
            let interval = Int(min(max(shortest / 8, 10_000_000), 1_000_000_000))
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            timer.schedule(deadline: .now() + .nanoseconds(interval), repeating: .nanoseconds(interval), leeway: .nanoseconds(interval / 4))
            timer.setEventHandler { self.sweep() }
            timer.resume()
            self.sweepTimer = timer
        }
    }

    /// Takes ownership of an accepted socket; call from any thread.
    func adopt(fd: Int32, remoteAddress: SocketAddress?) {
        execute {
            let connection = SocketConnection(
                fd: fd, remoteAddress: remoteAddress, loop: self, configuration: self.configuration, bodyBudget: self.bodyBudget,
                slowBudget: self.slowBudget,
                immediate: self.immediate, handler: self.handler, executor: self.executor)
            self.connections[ObjectIdentifier(connection)] = connection
            connection.start()
            if self.draining { connection.beginShutdown() }
        }
    }

    /// The `Date` header value for now, formatted once per second per loop.
    func date() -> String { dateHeader.now() }

    func connectionClosed(_ connection: SocketConnection) {
        connections[ObjectIdentifier(connection)] = nil
        connectionEnded()
    }

    /// Asks every connection to finish its current request and close; later adoptions close too.
    func beginShutdown() {
        execute {
            self.draining = true
            for connection in Array(self.connections.values) { connection.beginShutdown() }
        }
    }

    func closeAllNow() {
        execute {
            for connection in Array(self.connections.values) { connection.closeNow() }
        }
    }

    func stop() {
        execute {
            self.sweepTimer?.cancel()
            self.sweepTimer = nil
        }
    }

    private func sweep() {
        let now = EventLoop.now()
        for connection in Array(connections.values) { connection.tick(now: now) }
    }
}
