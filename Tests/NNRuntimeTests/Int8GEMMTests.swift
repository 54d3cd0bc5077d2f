import XCTest
@testable import NNRuntime

/// The int8 products of `GEMM.sgemm` (`Precision.int8`): a constant operand quantised per output
/// channel, the other per pixel or token within each block of k, every result within the
/// bound those roundings allow, independent of the split across threads.
final class Int8GEMMTests: XCTestCase {
    let pool = ComputePool(threads: 3)
    override func tearDown() { pool.shutdown() }

    /// A product with its constant on the left (a convolution's weights times a plain B) or on
    /// the right (a plain A times a linear layer's weights, given as `[n, k]`).
    struct Case {
        let m, n, k: Int
        let constantLeft: Bool
        var transB: Bool { !constantLeft }
        var lda: Int { k + 3 }
        var ldb: Int { (transB ? k : n) + 5 }
        var ldc: Int { n + 2 }
    }

    /// Shapes past every blocking edge: partial 12 x 32 tiles, k not a multiple of 4, k over two
    /// and three 1024 blocks, n over one 512 panel, splits along m and along n; each large enough
    /// for the int8 kernel (`GEMM.bf16MinRows` and the like).
    static let cases = [(25, 700, 1539), (250, 70, 33), (97, 131, 61), (30, 520, 2050)].flatMap { m, n, k in
        [Case(m: m, n: n, k: k, constantLeft: true), Case(m: m, n: n, k: k, constantLeft: false)]
    }

    /// The product with `t`'s constant side given as `packs` (a parameter of that side's values).
    func run(_ t: Case, a: Tensor, b: Tensor, c: Tensor, alpha: Float, beta: Float, _ ws: Workspace, packs: Parameter) {
        GEMM.sgemm(transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: alpha, a: t.constantLeft ? .constant(.init(packs)) : .floats(a.data),
                   lda: t.lda, b: t.constantLeft ? .floats(b.data) : .constant(.init(packs)), ldb: t.ldb,
                   beta: beta, c: c.data, ldc: t.ldc, ws)
    }

    func testProductsStayWithinTheQuantisationBound() {
        let ws = Workspace(options: RuntimeOptions(pool: pool, precision: .int8))
        var noise = GaussianNoise(seed: 21)
        for t in Self.cases {
            let a = noise.tensor([t.m * t.lda]), b = noise.tensor([(t.transB ? t.n : t.k) * t.ldb])
            func av(_ i: Int, _ p: Int) -> Double { Double(a.data[i * t.lda + p]) }
            func bv(_ p: Int, _ j: Int) -> Double { Double(t.transB ? b.data[j * t.ldb + p] : b.data[p * t.ldb + j]) }
            // Half a quantisation step of each row of A and column of B, from their largest values.
            let stepA = (0..<t.m).map { i in (0..<t.k).map { abs(av(i, $0)) }.max()! / 254 }
            let stepB = (0..<t.n).map { j in (0..<t.k).map { abs(bv($0, j)) }.max()! / 254 }
            // The exact product and the bound on its error, per element of C.
            var exact = [Double](repeating: 0, count: t.m * t.n), bounds = exact
            for i in 0..<t.m {
                for j in 0..<t.n {
                    for p in 0..<t.k {
                        exact[i * t.n + j] += av(i, p) * bv(p, j)
                        bounds[i * t.n + j] += stepA[i] * abs(bv(p, j)) + abs(av(i, p)) * stepB[j] + stepA[i] * stepB[j]
                            + 1e-6 * abs(av(i, p) * bv(p, j))
                    }
                }
            }
            let packs = Parameter(t.constantLeft ? a : b)
            for (alpha, beta) in [(Float(0.5), Float(0.25)), (1, 0)] {
                let c = noise.tensor([t.m * t.ldc])
                // beta == 0 must not read C: NaNs there would show.
                if beta == 0 { for i in 0..<c.count { c.data[i] = .nan } }
                let before = c.copy()
                run(t, a: a, b: b, c: c, alpha: alpha, beta: beta, ws, packs: packs)
                var worstExcess = -Double.infinity, largestError = 0.0
                for i in 0..<t.m {
                    for j in 0..<t.n {
                        let old = beta == 0 ? 0 : Double(beta) * Double(before.data[i * t.ldc + j])
                        let error = abs(Double(c.data[i * t.ldc + j]) - (Double(alpha) * exact[i * t.n + j] + old))
                        worstExcess = max(worstExcess, error - Double(alpha) * bounds[i * t.n + j] - 1e-5)
                        largestError = max(largestError, error)
                    }
                    for j in t.n..<t.ldc where i * t.ldc + j < c.count {
                        XCTAssertEqual(c.data[i * t.ldc + j].bitPattern, before.data[i * t.ldc + j].bitPattern, "padding of C is never written")
                    }
                }
                XCTAssertLessThanOrEqual(worstExcess, 0, "\(t) alpha \(alpha) beta \(beta)")
                XCTAssertGreaterThan(largestError, 0, "\(t): rounding shows")
                if RuntimeOptions.int8Supported {
                    // Not what the bf16 kernel gives: the int8 kernel ran.
                    let other = before.copy()
                    run(t, a: a, b: b, c: other, alpha: alpha, beta: beta, Workspace(options: RuntimeOptions(pool: pool, precision: .bf16)),
                        packs: Parameter(t.constantLeft ? a : b))
                    XCTAssertTrue(zip(other.array, c.array).contains { $0.bitPattern != $1.bitPattern }, "\(t): bf16 results, int8 expected")
                }
            }
        }
    }

    func testResultsDoNotDependOnThreads() throws {
        try XCTSkipUnless(RuntimeOptions.int8Supported, "needs AVX512-VNNI")
        let serial = Workspace(options: RuntimeOptions(pool: .serial, precision: .int8))
        let parallel = Workspace(options: RuntimeOptions(pool: pool, precision: .int8))
        var noise = GaussianNoise(seed: 22)
        for t in Self.cases {
            let a = noise.tensor([t.m * t.lda]), b = noise.tensor([(t.transB ? t.n : t.k) * t.ldb])
            let start = noise.tensor([t.m * t.ldc])
            let reference = start.copy()
            run(t, a: a, b: b, c: reference, alpha: 0.5, beta: 0.25, serial, packs: Parameter(t.constantLeft ? a : b))
            let packs = Parameter(t.constantLeft ? a : b)
            for ws in [parallel, serial, parallel] {
                let c = start.copy()
                run(t, a: a, b: b, c: c, alpha: 0.5, beta: 0.25, ws, packs: packs)
                XCTAssertEqual(c.array, reference.array, "\(t)")
            }
        }
    }
}
