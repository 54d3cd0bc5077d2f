import Dispatch

/// Hands work to event-loop queues from threads whose priority was lowered (request threads,
/// see `ThreadNice`). Dispatch starts a queue's worker threads from the thread that enqueues,
/// and a new thread inherits that thread's nice value: enqueued straight from a request thread,
/// an event loop could end up on a thread at the request threads' priority, where status polls
/// wait behind the jobs' threads. The relay enqueues on their behalf from a thread of its own,
/// at the priority the server started with.
final class LoopRelay: Sendable {
    /// The relay thread's nice value: enqueueing threads above it go through the relay.
    private let nice = ThreadNice.current()
    private let thread = SerialThread(name: "http-loop-relay")
    /// Puts work on a queue (`DispatchQueue.async`; tests watch where it is called from).
    private let enqueue: @Sendable (DispatchQueue, @escaping @Sendable () -> Void) -> Void

    init(enqueue: @escaping @Sendable (DispatchQueue, @escaping @Sendable () -> Void) -> Void = { $0.async(execute: $1) }) {
        self.enqueue = enqueue
    }

    /// Runs `body` on `queue`: enqueued from here, or through the relay from a lowered thread.
    func async(_ queue: DispatchQueue, _ body: @escaping @Sendable () -> Void) {
        guard ThreadNice.current() > nice else { return enqueue(queue, body) }
        thread.submit { [enqueue] in enqueue(queue, body) }
    }

    /// Ends the relay thread once the work handed in so far is enqueued.
    func stop() { thread.stop() }
}
