import XCTest
@testable import NNRuntime

final class GEMMTests: XCTestCase {
    /// Split products (along N when it is the longer side, along M otherwise, with chunk edges
    /// off the 16-wide tiles) equal a double-precision reference, for every transpose pair,
    /// alpha and beta, and leading dimensions wider than the operands.
    func testSplitProductsMatchTheReference() {
        let ws = Workspace(options: RuntimeOptions(pool: ComputePool(threads: 3)))
        defer { ws.options.pool.shutdown() }
        var noise = GaussianNoise(seed: 5)
        for (m, n, k) in [(37, 1000, 40), (900, 45, 33), (64, 64, 300), (5, 7, 3)] {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                let (lda, ldb, ldc) = ((transA ? m : k) + 3, (transB ? k : n) + 5, n + 2)
                let a = noise.tensor([(transA ? k : m) * lda]), b = noise.tensor([(transB ? n : k) * ldb])
                let c = noise.tensor([m * ldc])
                let before = c.copy()
                let (alpha, beta): (Float, Float) = (0.5, 0.25)
                GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda,
                           b: b.data, ldb: ldb, beta: beta, c: c.data, ldc: ldc, ws)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = 0.0
                        for p in 0..<k {
                            let av = transA ? a.data[p * lda + i] : a.data[i * lda + p]
                            let bv = transB ? b.data[j * ldb + p] : b.data[p * ldb + j]
                            sum += Double(av) * Double(bv)
                        }
                        let expected = Double(alpha) * sum + Double(beta) * Double(before.data[i * ldc + j])
                        worst = max(worst, abs(Double(c.data[i * ldc + j]) - expected))
                    }
                    // The padding past n in each row of C is never written.
                    for j in n..<ldc where i * ldc + j < c.count { XCTAssertEqual(c.data[i * ldc + j], before.data[i * ldc + j]) }
                }
                XCTAssertLessThan(worst, 1e-3, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB)")
            }
        }
    }
}
