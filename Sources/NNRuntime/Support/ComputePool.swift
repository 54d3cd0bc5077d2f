import Foundation

/// The runtime's own threads for its parallel loops, apart from the threads that serve requests,
/// so a server can lower the priority of its request threads without slowing the model.
/// Callers take part in their own loops: a loop never waits on a busy pool to start, and any
/// number of workers can share one pool.
public final class ComputePool: @unchecked Sendable {
    /// One `forRange` call's chunks. The body is borrowed from the caller's frame, not retained:
    /// a batch may outlive its call in a helper's hands, the caller's closure must not.
    private final class Batch {
        let chunks: Int
        let body: UnsafePointer<(Int) -> Void>
        var next = 0
        var done = 0

        init(chunks: Int, body: UnsafePointer<(Int) -> Void>) {
            self.chunks = chunks
            self.body = body
        }
    }

    /// Threads a loop is split across, the caller's included.
    public let width: Int
    private let lock = NSCondition()
    /// Signalled when a chunk finishes; callers wait on it for their batch.
    private let finished = NSCondition()
    /// Batches with chunks not yet taken, oldest first.
    private var open: [Batch] = []
    private var stopping = false

    /// A pool of `threads - 1` helper threads (the caller is the last one).
    public init(threads: Int, name: String = "segserve-compute") {
        width = max(1, threads)
        for index in 1..<width {
            let thread = Thread { [self] in helperLoop() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs everything on the calling thread.
    public static let serial = ComputePool(threads: 1)

    /// Stops the helper threads once the open loops are done; later loops run inline. The
    /// helpers hold the pool until then.
    public func shutdown() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
    }

    /// Runs `body` over `0..<count` split into contiguous chunks, at most one per thread.
    /// Small ranges run inline: waking a thread costs more than it saves below `minPerThread`.
    @inline(__always)
    public func forRange(_ count: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(width, max(1, count / max(minPerThread, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // Chunks write disjoint ranges; the caller owns the memory until every chunk is done.
            nonisolated(unsafe) let body = body
            let chunk: (Int) -> Void = { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
            withUnsafePointer(to: chunk) { run(Batch(chunks: chunks, body: $0)) }
        }
    }

    private func run(_ batch: Batch) {
        lock.lock()
        let shared = !stopping
        if shared {
            open.append(batch)
            lock.signal()
        }
        lock.unlock()
        if !shared {
            for c in 0..<batch.chunks { batch.body.pointee(c) }
            return
        }
        // Take chunks until none is left, then wait for the helpers' ones.
        while let c = take(from: batch) { runChunk(c, of: batch) }
        finished.lock()
        while batch.done < batch.chunks { finished.wait() }
        finished.unlock()
    }

    /// The next untaken chunk of `batch`, or nil; removes the batch from `open` on its last chunk.
    private func take(from batch: Batch) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard batch.next < batch.chunks else { return nil }
        return claim(batch)
    }

    /// Takes `batch`'s next chunk; the caller holds `lock`.
    private func claim(_ batch: Batch) -> Int {
        let c = batch.next
        batch.next += 1
        if batch.next == batch.chunks, let i = open.firstIndex(where: { $0 === batch }) { open.remove(at: i) }
        // Another chunk is waiting: wake one more helper.
        if batch.next < batch.chunks { lock.signal() }
        return c
    }

    private func runChunk(_ c: Int, of batch: Batch) {
        Self.invoke(batch.body, c)
        finished.lock()
        batch.done += 1
        if batch.done == batch.chunks { finished.broadcast() }
        finished.unlock()
    }

    /// Calls the caller's body; out of line so the copy of it is released before the chunk
    /// counts as done and the caller's frame goes away.
    @inline(never)
    private static func invoke(_ body: UnsafePointer<(Int) -> Void>, _ c: Int) {
        body.pointee(c)
    }

    private func helperLoop() {
        while true {
            lock.lock()
            while open.isEmpty && !stopping { lock.wait() }
            if stopping && open.isEmpty {
                lock.unlock()
                return
            }
            let batch = open[0]
            let c = claim(batch)
            lock.unlock()
            runChunk(c, of: batch)
        }
    }
}
