import Dispatch
import HTTPServer

/// Runs submission decoding one request at a time on a thread of its own. Decoding a large
/// PNG or JPEG takes seconds; done on the handler's threads it would stall the status polls
/// and health checks they also answer, and several uploads at once would compete with the
/// workers for every core. Here they wait their turn instead, at the request threads' priority.
final class DecodeQueue: Sendable {
    private let queue = DispatchQueue(label: "segserve.decode", qos: .utility)
    /// Nice levels added to the decoding thread.
    private let nice: Int

    init(nice: Int) {
        self.nice = nice
    }

    func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async { [nice] in
                ThreadNice.lowerCurrentThread(by: nice)
                do throws(E) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
