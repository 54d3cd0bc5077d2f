import XCTest
@testable import NNRuntime

final class AttentionKernelTests: XCTestCase {
    /// Runs `body` with the narrow-head kernel chosen, then restores the CPU's choice.
    static func with<T>(avx512: Bool, _ body: () throws -> T) rethrows -> T {
        let saved = Attention.useAVX512
        defer { Attention.useAVX512 = saved }
        Attention.useAVX512 = avx512
        return try body()
    }

    /// The AVX-512 and portable narrow-head kernels and the blocked sgemm path agree.
    func testNarrowHeadPathsAgree() throws {
        try XCTSkipUnless(Attention.avx512Supported, "CPU lacks AVX-512 (or SEGSERVE_NO_AVX512 is set)")
        var noise = GaussianNoise(seed: 3)
        for (n, heads, width) in [(1000, 8, 64), (37, 2, 32), (4100, 4, 32)] {
            let q = noise.tensor([n, width]), k = noise.tensor([n, width]), v = noise.tensor([n, width])
            let ws = Workspace()
            let portable = Self.with(avx512: false) { Attention.multiHead(q: q, k: k, v: v, heads: heads, ws) }
            let fast = Self.with(avx512: true) { Attention.multiHead(q: q, k: k, v: v, heads: heads, ws) }
            var diff: Float = 0
            for i in 0..<fast.count { diff = max(diff, abs(fast[i] - portable[i])) }
            XCTAssertLessThan(diff, 1e-4, "n \(n) heads \(heads)")
        }
    }

    /// Softmax weights sum to 1: attending over constant values returns the constant, on
    /// every kernel this CPU has.
    func testConstantValuesComeBack() {
        var noise = GaussianNoise(seed: 4)
        for avx512 in Attention.avx512Supported ? [false, true] : [false] {
            for (n, heads, width) in [(1000, 8, 64), (37, 2, 32), (300, 2, 80)] {
                let q = noise.tensor([n, width]), k = noise.tensor([n, width])
                let ones = Tensor(shape: [n, width], repeating: 1)
                let averaged = Self.with(avx512: avx512) { Attention.multiHead(q: q, k: k, v: ones, heads: heads, Workspace()) }
                for i in stride(from: 0, to: averaged.count, by: 97) {
                    XCTAssertEqual(averaged[i], 1, accuracy: 1e-5, "avx512 \(avx512) n \(n) heads \(heads)")
                }
            }
        }
    }
}
