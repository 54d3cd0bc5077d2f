import Foundation
import HTTPServer

/// Runs submission decoding one request at a time on a thread of its own. Decoding a large
/// PNG or JPEG takes seconds; done on the handler's threads it would stall the requests they
/// also answer, and several uploads at once would compete with the workers for every core.
/// Here they wait their turn instead, at the request threads' priority. The thread is the
/// queue's own, not one of Dispatch's: Linux keeps nice values per thread, and a pooled thread
/// lowered here could go on to run an event loop at that priority.
final class DecodeQueue: Sendable {
    /// The work and its thread's wait; the thread holds this, not the queue, so the queue's
    /// end can stop it.
    private final class Lane: @unchecked Sendable {
        let condition = NSCondition()
        /// Work not yet started, oldest first, and whether the thread should end once it is
        /// done; guarded by `condition`.
        var work: [() -> Void] = []
        var stopping = false

        func add(_ item: @escaping () -> Void) {
            condition.lock()
            work.append(item)
            condition.signal()
            condition.unlock()
        }

        /// Runs work as it comes until `stop`.
        func serve() {
            while true {
                condition.lock()
                while work.isEmpty && !stopping { condition.wait() }
                let item = work.isEmpty ? nil : work.removeFirst()
                condition.unlock()
                guard let item else { return }
                item()
            }
        }

        func stop() {
            condition.lock()
            stopping = true
            condition.signal()
            condition.unlock()
        }
    }

    private let lane = Lane()

    init(nice: Int) {
        let thread = Thread { [lane] in
            ThreadNice.lowerCurrentThread(by: nice)
            lane.serve()
        }
        thread.name = "segserve-decode"
        thread.start()
    }

    deinit { lane.stop() }

    func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            lane.add {
                do throws(E) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
