import XCTest
@testable import NNRuntime
import TestSupport

final class AttentionKernelTests: XCTestCase {
    /// A workspace whose narrow heads take the AVX-512 kernel or the portable one.
    static func workspace(avx512: Bool) -> Workspace { .testing { $0.avx512Attention = avx512 } }

    /// The AVX-512 and portable narrow-head kernels and the blocked sgemm path agree.
    func testNarrowHeadPathsAgree() throws {
        try XCTSkipUnless(RuntimeOptions.avx512Supported, "CPU lacks AVX-512 (or SEGSERVE_NO_AVX512 is set)")
        var noise = GaussianNoise(seed: 3)
        for (n, heads, width) in [(1000, 8, 64), (37, 2, 32), (4100, 4, 32)] {
            let q = noise.tensor([n, width]), k = noise.tensor([n, width]), v = noise.tensor([n, width])
            let portable = Attention.multiHead(q: q, k: k, v: v, heads: heads, Self.workspace(avx512: false))
            let fast = Attention.multiHead(q: q, k: k, v: v, heads: heads, Self.workspace(avx512: true))
            var diff: Float = 0
            for i in 0..<fast.count { diff = max(diff, abs(fast[i] - portable[i])) }
            XCTAssertLessThan(diff, 1e-4, "n \(n) heads \(heads)")
        }
    }

    /// Softmax weights sum to 1: attending over constant values returns the constant, on
    /// every kernel this CPU has.
    func testConstantValuesComeBack() {
        var noise = GaussianNoise(seed: 4)
        for avx512 in RuntimeOptions.avx512Supported ? [false, true] : [false] {
            for (n, heads, width) in [(1000, 8, 64), (37, 2, 32), (300, 2, 80)] {
                let q = noise.tensor([n, width]), k = noise.tensor([n, width])
                let ones = Tensor(shape: [n, width], repeating: 1)
                let averaged = Attention.multiHead(q: q, k: k, v: ones, heads: heads, Self.workspace(avx512: avx512))
                for i in stride(from: 0, to: averaged.count, by: 97) {
                    XCTAssertEqual(averaged[i], 1, accuracy: 1e-5, "avx512 \(avx512) n \(n) heads \(heads)")
                }
            }
        }
    }
}
