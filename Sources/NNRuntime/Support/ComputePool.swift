import CKernels
import Foundation
import Synchronization

/// The runtime's own threads for its parallel loops, apart from the threads that serve requests,
/// so a server can lower the priority of its request threads without slowing the model.
/// Callers take part in their own loops: a loop never waits on a busy pool to start, and any
/// number of workers can share one pool. Idle helpers and waiting callers spin for `spin` before
/// they sleep: the gaps between a forward pass's loops are mostly shorter than a thread's
/// wake-up. The spin does not yield: a yield would hand the core to a lower-priority thread.
public final class ComputePool: @unchecked Sendable {
    /// One `forRange` call's chunks. The body is borrowed from the caller's frame, not retained:
    /// a batch may outlive its call in a helper's hands, the caller's closure must not.
    private final class Batch {
        let chunks: Int
        let body: UnsafePointer<(Int) -> Void>
        /// Next chunk to take; guarded by the pool's `lock`.
        var next = 0
        let done = Atomic<Int>(0)

        init(chunks: Int, body: UnsafePointer<(Int) -> Void>) {
            self.chunks = chunks
            self.body = body
        }
    }

    /// Threads a loop is split across, the caller's included.
    public let width: Int
    /// How long an idle thread polls for work before it sleeps.
    public let spin: Duration
    private let lock = NSCondition()
    /// Signalled when a batch's last chunk finishes; callers past their spin wait on it.
    private let finished = NSCondition()
    /// Batches with chunks not yet taken, oldest first; guarded by `lock`.
    private var open: [Batch] = []
    /// `open.count`, readable without the lock by spinning helpers.
    private let openCount = Atomic<Int>(0)
    /// Helpers asleep on `lock`; guarded by it.
    private var sleepers = 0
    private var stopping = false

    /// A pool of `threads - 1` helper threads (the caller is the last one).
    public init(threads: Int, spin: Duration = .microseconds(50), name: String = "segserve-compute") {
        width = max(1, threads)
        self.spin = spin
        for index in 1..<width {
            let thread = Thread { [self] in
                Thread.current.name = "\(name)-\(index)"  // Linux names only the running thread
                helperLoop()
            }
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
            openCount.store(open.count, ordering: .releasing)
            if sleepers > 0 { lock.signal() }
        }
        lock.unlock()
        if !shared {
            for c in 0..<batch.chunks { batch.body.pointee(c) }
            return
        }
        // Take chunks until none is left, then wait for the helpers' ones.
        while let c = take(from: batch) { runChunk(c, of: batch) }
        if spinUntil({ batch.done.load(ordering: .acquiring) == batch.chunks }) { return }
        finished.lock()
        while batch.done.load(ordering: .acquiring) < batch.chunks { finished.wait() }
        finished.unlock()
    }

    /// The next untaken chunk of `batch`, or nil.
    private func take(from batch: Batch) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard batch.next < batch.chunks else { return nil }
        return claim(batch)
    }

    /// The oldest open batch's next chunk, or nil when none is open.
    private func takeAny() -> (Batch, Int)? {
        guard openCount.load(ordering: .acquiring) > 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        guard let batch = open.first else { return nil }
        return (batch, claim(batch))
    }

    /// Takes `batch`'s next chunk, closing the batch on its last one; the caller holds `lock`.
    private func claim(_ batch: Batch) -> Int {
        let c = batch.next
        batch.next += 1
        if batch.next == batch.chunks, let i = open.firstIndex(where: { $0 === batch }) {
            open.remove(at: i)
            openCount.store(open.count, ordering: .releasing)
        } else if sleepers > 0 {
            lock.signal()
        }
        return c
    }

    private func runChunk(_ c: Int, of batch: Batch) {
        Self.invoke(batch.body, c)
        if batch.done.add(1, ordering: .acquiringAndReleasing).newValue == batch.chunks {
            finished.lock()
            finished.broadcast()
            finished.unlock()
        }
    }

    /// Calls the caller's body; out of line so the copy of it is released before the chunk
    /// counts as done and the caller's frame goes away.
    @inline(never)
    private static func invoke(_ body: UnsafePointer<(Int) -> Void>, _ c: Int) {
        body.pointee(c)
    }

    /// Polls `condition` for up to `spin`; true once it holds.
    private func spinUntil(_ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + spin
        while true {
            for _ in 0..<16 {
                if condition() { return true }
                segserve_cpu_relax()
            }
            if ContinuousClock.now >= deadline { return condition() }
        }
    }

    private func helperLoop() {
        while true {
            if let (batch, c) = takeAny() {
                runChunk(c, of: batch)
                continue
            }
            if spinUntil({ openCount.load(ordering: .acquiring) > 0 }) { continue }
            lock.lock()
            sleepers += 1
            while open.isEmpty && !stopping { lock.wait() }
            sleepers -= 1
            let exit = stopping && open.isEmpty
            lock.unlock()
            if exit { return }
        }
    }
}
