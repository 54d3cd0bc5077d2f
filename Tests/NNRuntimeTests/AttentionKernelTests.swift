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

    /// The fused bf16 heads compute the rounded definition (q, k, the softmax's numerators and v
    /// rounded to bf16, the rest in float) past every edge: rows, keys and channels that fill no
    /// whole block, odd heads, and heads of one to several value vectors.
    func testBF16HeadsComputeTheRoundedDefinition() throws {
        try XCTSkipUnless(RuntimeOptions.bf16Supported, "CPU lacks AVX512-BF16 (or it is switched off)")
        func bf16(_ x: Float) -> Double {
            let bits = x.bitPattern
            return Double(Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000))
        }
        var noise = GaussianNoise(seed: 5)
        let ws = Workspace.testing { $0.precision = .bf16 }
        for (nq, nk, heads, width) in [(29, 77, 2, 80), (100, 33, 1, 33), (64, 300, 1, 160), (40, 64, 3, 144), (24, 32, 1, 80)] {
            let q = noise.tensor([nq, width]), k = noise.tensor([nk, width]), v = noise.tensor([nk, width])
            let fused = Attention.multiHead(q: q, k: k, v: v, heads: heads, ws)
            let d = width / heads, scale = 1 / Double(d).squareRoot()
            var worst = 0.0
            for h in 0..<heads {
                for i in 0..<nq {
                    let s = (0..<nk).map { j in
                        Double(Float(scale * (0..<d).reduce(0.0) { $0 + bf16(q[i * width + h * d + $1]) * bf16(k[j * width + h * d + $1]) }))
                    }
                    let e = s.map { Foundation.exp($0 - s.max()!) }, sum = e.reduce(0, +)
                    for t in 0..<d {
                        let expected = (0..<nk).reduce(0.0) { $0 + bf16(Float(e[$1])) * bf16(v[$1 * width + h * d + t]) } / sum
                        worst = max(worst, abs(Double(fused[i * width + h * d + t]) - expected))
                    }
                }
            }
            // Float products leave 3e-3 to 5e-3 here; a numerator that rounds the other way
            // (exp's last bit) about 5e-5.
            XCTAssertLessThan(worst, 2e-4, "nq \(nq) nk \(nk) heads \(heads) width \(width)")
        }
    }
}
