import XCTest
@testable import NNRuntime

final class AttentionKernelTests: XCTestCase {
    /// The AVX-512 and portable narrow-head kernels and the blocked sgemm path agree.
    func testNarrowHeadPathsAgree() {
        var noise = GaussianNoise(seed: 3)
        for (n, heads, width) in [(1000, 8, 64), (37, 2, 32), (4100, 4, 32)] {
            let q = noise.tensor([n, width]), k = noise.tensor([n, width]), v = noise.tensor([n, width])
            let ws = Workspace()
            let saved = Attention.useAVX512
            defer { Attention.useAVX512 = saved }
            Attention.useAVX512 = false
            let portable = Attention.multiHead(q: q, k: k, v: v, heads: heads, ws)
            Attention.useAVX512 = saved
            let fast = Attention.multiHead(q: q, k: k, v: v, heads: heads, ws)
            // Softmax weights sum to 1: attending over constant values returns the constant.
            var diff: Float = 0
            for i in 0..<fast.count { diff = max(diff, abs(fast[i] - portable[i])) }
            XCTAssertLessThan(diff, 1e-4, "n \(n) heads \(heads)")
            let ones = Tensor(shape: [n, width], repeating: 1)
            let averaged = Attention.multiHead(q: q, k: k, v: ones, heads: heads, ws)
            for i in stride(from: 0, to: averaged.count, by: 97) { XCTAssertEqual(averaged[i], 1, accuracy: 1e-5) }
        }
    }
}
