import XCTest
@testable import NNRuntime

/// The bf16 products of `GEMM.sgemm` (`Precision.bf16`): within the rounding bound of bf16
/// operands, independent of the split across threads and of packing constants ahead, and
/// plain fp32 where the CPU lacks AVX512-BF16.
final class BF16GEMMTests: XCTestCase {
    let pool = ComputePool(threads: 3)
    override func tearDown() { pool.shutdown() }

    struct Case {
        let m, n, k: Int
        let transB: Bool
        var lda: Int { k + 3 }
        var ldb: Int { (transB ? k : n) + 5 }
        var ldc: Int { n + 2 }
    }

    /// Shapes past every blocking edge: partial 12 x 32 tiles, odd k, k over two 768 blocks,
    /// n over one 1024 panel, splits along m and along n.
    static let cases = [(25, 1100, 1539), (250, 70, 33), (64, 64, 800), (97, 131, 61)].flatMap { m, n, k in
        [Case(m: m, n: n, k: k, transB: false), Case(m: m, n: n, k: k, transB: true)]
    }

    func run(_ t: Case, a: Tensor, b: Tensor, c: Tensor, alpha: Float, beta: Float, _ ws: Workspace,
             constants: (Parameter?, Parameter?) = (nil, nil)) {
        GEMM.sgemm(transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: alpha, a: constants.0.map { .constant(.init($0)) } ?? .floats(a.data),
                   lda: t.lda, b: constants.1.map { .constant(.init($0)) } ?? .floats(b.data), ldb: t.ldb,
                   beta: beta, c: c.data, ldc: t.ldc, ws)
    }

    func testProductsStayWithinTheBF16RoundingBound() {
        let ws = Workspace(options: RuntimeOptions(pool: pool, precision: .bf16))
        var noise = GaussianNoise(seed: 11)
        for t in Self.cases {
            let a = noise.tensor([t.m * t.lda]), b = noise.tensor([(t.transB ? t.n : t.k) * t.ldb])
            for (alpha, beta) in [(Float(0.5), Float(0.25)), (1, 0)] {
                let c = noise.tensor([t.m * t.ldc])
                // beta == 0 must not read C: NaNs there would show.
                if beta == 0 { for i in 0..<c.count { c.data[i] = .nan } }
                let before = c.copy()
                run(t, a: a, b: b, c: c, alpha: alpha, beta: beta, ws)
                var worstExcess = -Double.infinity, largestError = 0.0
                for i in 0..<t.m {
                    for j in 0..<t.n {
                        var sum = 0.0, magnitude = 0.0
                        for p in 0..<t.k {
                            let av = Double(a.data[i * t.lda + p])
                            let bv = Double(t.transB ? b.data[j * t.ldb + p] : b.data[p * t.ldb + j])
                            sum += av * bv
                            magnitude += abs(av * bv)
                        }
                        let old = beta == 0 ? 0 : Double(beta) * Double(before.data[i * t.ldc + j])
                        let error = abs(Double(c.data[i * t.ldc + j]) - (Double(alpha) * sum + old))
                        // Each operand rounds by at most 2^-8 relative: a product by 2^-7 + 2^-16.
                        let bound = RuntimeOptions.bf16Supported ? Double(alpha) * magnitude * 0.0079 + 1e-5 : 1e-3
                        worstExcess = max(worstExcess, error - bound)
                        largestError = max(largestError, error)
                    }
                    for j in t.n..<t.ldc where i * t.ldc + j < c.count {
                        XCTAssertEqual(c.data[i * t.ldc + j].bitPattern, before.data[i * t.ldc + j].bitPattern, "padding of C is never written")
                    }
                }
                XCTAssertLessThanOrEqual(worstExcess, 0, "\(t) alpha \(alpha) beta \(beta)")
                if RuntimeOptions.bf16Supported {
                    // Rounded operands leave errors far above fp32's: the bf16 kernel ran.
                    XCTAssertGreaterThan(largestError, 1e-3, "\(t): fp32 results, bf16 expected")
                }
            }
        }
    }

    func testResultsDoNotDependOnThreadsOrPackingAhead() throws {
        try XCTSkipUnless(RuntimeOptions.bf16Supported, "needs AVX512-BF16")
        let serial = Workspace(options: RuntimeOptions(pool: .serial, precision: .bf16))
        let parallel = Workspace(options: RuntimeOptions(pool: pool, precision: .bf16))
        var noise = GaussianNoise(seed: 12)
        for t in Self.cases {
            let a = noise.tensor([t.m * t.lda]), b = noise.tensor([(t.transB ? t.n : t.k) * t.ldb])
            let start = noise.tensor([t.m * t.ldc])
            let reference = start.copy()
            run(t, a: a, b: b, c: reference, alpha: 0.5, beta: 0.25, serial)
            let (packsA, packsB) = (Parameter(a), Parameter(b))
            // Twice each: the first call packs the constant, the second reuses the pack.
            for (ws, constants) in [(parallel, (nil, nil)), (serial, (packsA, nil)), (parallel, (packsA, nil)),
                                    (parallel, (nil, packsB)), (serial, (nil, packsB))] as [(Workspace, (Parameter?, Parameter?))] {
                let c = start.copy()
                run(t, a: a, b: b, c: c, alpha: 0.5, beta: 0.25, ws, constants: constants)
                XCTAssertEqual(c.array, reference.array, "\(t)")
            }
        }
    }
}
