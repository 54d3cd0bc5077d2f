import HTTPServer
import ServiceCore

/// Runs submission decoding off the handlers' threads, in two lanes: uploads of at most
/// `smallPixels` pixels on one thread, larger ones on another. Decoding a large PNG or JPEG
/// takes seconds; done on the handler's threads it would stall the requests they also answer,
/// and many uploads at once would compete with the workers for every core and hold their
/// pixels together. In lanes, large uploads wait their turn behind each other (one large image
/// in memory at a time) while a small upload never waits behind a large one. Both threads run
/// at the request threads' priority, and no event loop can be given them afterwards (see
/// `SerialThread`).
final class DecodeQueue: Sendable {
    /// About a 12-megapixel phone photo.
    static let smallPixels = 1 << 22
    private let small: SerialThread
    private let large: SerialThread

    init(nice: Int) {
        small = SerialThread(name: "segserve-decode", nice: nice)
        large = SerialThread(name: "segserve-decode-large", nice: nice)
    }

    deinit {
        small.stop()
        large.stop()
    }

    /// Runs `body` in the lane of an upload of `pixels` pixels (as its headers declare them).
    func run<T: Sendable, E: Error>(pixels: Int, _ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let thread = pixels <= Self.smallPixels ? small : large
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
