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
    private let connectionEnded: @Sendable () -> Void
    private var connections: [ObjectIdentifier: SocketConnection] = [:]
    private var dateHeader = IMFFixdate()
    private var sweepTimer: DispatchSourceTimer?
    private var draining = false

    static let readBufferSize = 64 * 1024

    /// `connectionEnded` runs (on this queue) after each connection's socket is closed.
    init(index: Int, configuration: HTTPServerConfiguration, bodyBudget: BodyMemoryBudget, slowBudget: SlowRequestBudget,
         immediate: HTTPImmediateHandler?, handler: @escaping HTTPHandler, connectionEnded: @escaping @Sendable () -> Void) {
        self.bodyBudget = bodyBudget
        self.slowBudget = slowBudget
        queue = DispatchQueue(label: "HTTPServer.EventLoop.\(index)")
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        self.configuration = configuration
        self.immediate = immediate
        self.handler = handler
        self.connectionEnded = connectionEnded
    }

    deinit {
        readBuffer.deallocate()
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
        queue.async {
            let connection = SocketConnection(
                fd: fd, remoteAddress: remoteAddress, loop: self, configuration: self.configuration, bodyBudget: self.bodyBudget,
                slowBudget: self.slowBudget,
                immediate: self.immediate, handler: self.handler)
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
        queue.async {
            self.draining = true
            for connection in Array(self.connections.values) { connection.beginShutdown() }
        }
    }

    func closeAllNow() {
        queue.async {
            for connection in Array(self.connections.values) { connection.closeNow() }
        }
    }

    func stop() {
        queue.async {
            self.sweepTimer?.cancel()
            self.sweepTimer = nil
        }
    }

    private func sweep() {
        let now = EventLoop.now()
        for connection in Array(connections.values) { connection.tick(now: now) }
    }
}
