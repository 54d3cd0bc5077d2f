import COpenBLAS

/// Row-major single-precision GEMM, C = alpha op(A) op(B) + beta C, split across the workspace's
/// pool and run single-threaded per chunk. OpenBLAS's own threads wait for one another by
/// yielding the CPU, which hands it to any runnable thread, request threads included, whatever
/// their priority; the pool's threads spin without yielding.
public enum GEMM {
    /// Products below this many multiply-adds run as one call: splitting costs more.
    static let minSplitMACs = 1 << 20
    /// Chunk edges fall on multiples of this, the widest sgemm micro-kernel tile.
    static let tile = 16

    /// OpenBLAS runs on the calling thread only; once per process, before the first product.
    private static let singleThreaded: Void = openblas_set_num_threads(1)

    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace) {
        _ = singleThreaded
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        guard m * n * k >= minSplitMACs, max(m, n) >= 2 * tile else { return call(m, n, a, b, c) }
        // Split the longer side of C: each chunk then packs all of the shorter side's operand,
        // the smaller duplicate.
        if n >= m {
            ws.forRange((n + tile - 1) / tile) { blocks in
                let n0 = blocks.lowerBound * tile, n1 = min(n, blocks.upperBound * tile)
                call(m, n1 - n0, a, b + (transB ? n0 * ldb : n0), c + n0)
            }
        } else {
            ws.forRange((m + tile - 1) / tile) { blocks in
                let m0 = blocks.lowerBound * tile, m1 = min(m, blocks.upperBound * tile)
                call(m1 - m0, n, a + (transA ? m0 : m0 * lda), b, c + m0 * ldc)
            }
        }
    }
}
