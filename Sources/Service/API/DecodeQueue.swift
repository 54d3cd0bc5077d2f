import HTTPServer

/// Runs submission decoding one request at a time on a thread of its own. Decoding a large
/// PNG or JPEG takes seconds; done on the handler's threads it would stall the requests they
/// also answer, and several uploads at once would compete with the workers for every core.
/// Here they wait their turn instead, at the request threads' priority, on a thread no event
/// loop can be given afterwards (see `SerialThread`).
final class DecodeQueue: Sendable {
    private let thread: SerialThread

    init(nice: Int) {
        thread = SerialThread(name: "segserve-decode", nice: nice)
    }

    deinit { thread.stop() }

    func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            thread.submit {
                do throws(E) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
