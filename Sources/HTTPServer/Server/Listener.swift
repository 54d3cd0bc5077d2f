import Dispatch
import Foundation

/// The listening socket: accepts connections on its own queue and hands each to `onAccept`.
final class Listener: @unchecked Sendable {
    let address: SocketAddress
    private let fd: Int32
    private let queue = DispatchQueue(label: "HTTPServer.Listener")
    private let source: DispatchSourceRead
    private let onAccept: @Sendable (Int32, SocketAddress?) -> Void
    private var paused = false

    /// Accepts per turn of the queue, so a flood of connections cannot monopolise it.
    static let acceptBatch = 64
    /// Pause after running out of file descriptors, instead of spinning on a ready listener.
    static let descriptorExhaustionPause: DispatchTimeInterval = .milliseconds(100)

    init(configuration: HTTPServerConfiguration, onAccept: @escaping @Sendable (Int32, SocketAddress?) -> Void) throws(HTTPServerError) {
        (fd, address) = try PosixSocket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        self.onAccept = onAccept
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
    }

    func start() {
        source.setEventHandler { self.acceptPending() }
        source.setCancelHandler { close(self.fd) }
        source.resume()
    }

    /// Stops accepting; returns once no accept is in progress, so every accepted socket has been handed on.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.source.cancel()
                if self.paused {
                    self.paused = false
                    self.source.resume()
                }
                continuation.resume()
            }
        }
    }

    /// Accepts until none is pending; after a full batch it yields and continues in a fresh turn
    /// rather than waiting for another readiness event (see `SocketConnection.readable`).
    private func acceptPending() {
        guard !paused, !source.isCancelled else { return }
        for _ in 0..<Listener.acceptBatch {
            guard let (fd, remote) = PosixSocket.accept(fd) else {
                if errno == EMFILE || errno == ENFILE { pause() }
                return
            }
            onAccept(fd, remote)
        }
        queue.async { self.acceptPending() }
    }

    private func pause() {
        guard !paused else { return }
        paused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + Listener.descriptorExhaustionPause) {
            guard self.paused else { return }
            self.paused = false
            self.source.resume()
        }
    }
}
