import COpenBLAS
import Dispatch

/// Thread settings shared by OpenBLAS and the runtime's own loops.
public enum Parallel {
    nonisolated(unsafe) private static var width = 2

    /// Sets the thread count for BLAS and for the runtime's `for` loops.
    public static func configure(threads: Int) {
        width = max(1, threads)
        openblas_set_num_threads(Int32(width))
    }

    public static var threads: Int { width }

    /// Runs `body` over `0..<count` split into contiguous chunks, one per thread.
    /// Small ranges run inline: dispatch costs more than it saves below `minPerThread`.
    @inline(__always)
    public static func forRange(_ count: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(width, max(1, count / max(minPerThread, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // Chunks write disjoint ranges; the caller owns the memory for the whole call.
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { run(lo..<hi) }
            }
        }
    }
}
