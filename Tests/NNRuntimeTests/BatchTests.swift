import XCTest
@testable import NNRuntime
import TestSupport

/// Every op that takes `[C, B, H, W]` batches gives each map what it gives that map alone.
/// Ops without a matrix product over the batch (norms, resizing, the F(4x4, 3x3) kernel, the
/// im2col and transforms themselves) must match bit for bit; products with B times the
/// columns may differ only by float reassociation inside the sgemm.
final class BatchTests: XCTestCase {
    func maps(_ count: Int, _ shape: [Int], seed: UInt64) -> [Tensor] {
        var noise = GaussianNoise(seed: seed)
        return (0..<count).map { _ in noise.tensor(shape) }
    }

    /// Largest difference between `batched`'s maps and `alone`, relative to the largest value.
    func relativeDifference(_ batched: Tensor, _ alone: [Tensor], file: StaticString = #filePath, line: UInt = #line) -> Float {
        XCTAssertEqual(batched.maps.b, alone.count, file: file, line: line)
        var diff: Float = 0, scale: Float = 0
        for (item, reference) in zip(batched.items, alone) {
            XCTAssertEqual(item.shape, reference.shape, file: file, line: line)
            for i in 0..<min(item.count, reference.count) {
                diff = max(diff, abs(item[i] - reference[i])); scale = max(scale, abs(reference[i]))
            }
        }
        return diff / max(scale, .leastNormalMagnitude)
    }

    func testBatchLayoutRoundTrips() {
        let items = maps(3, [2, 3, 4], seed: 1)
        let batch = Tensor.batch(items)
        XCTAssertEqual(batch.shape, [2, 3, 3, 4])
        XCTAssertEqual(batch.items.map(\.array), items.map(\.array))
        XCTAssertEqual(batch.plane(1, 2)[5], items[2][12 + 5], "channel 1 of map 2")
        XCTAssertTrue(Tensor.batch([items[0]]) === items[0], "a batch of one is the map itself")
    }

    func testConvolutionsOnEveryPath() throws {
        var noise = GaussianNoise(seed: 2)
        // (cin, cout, h, w, kernel, stride, padding): F(4x4, 3x3) (AVX-512 CPUs), F(2x2, 3x3),
        // im2col at a small map, strided, 1x1, and the asymmetric padding of a downsampler.
        let cases: [(Int, Int, Int, Int, Int, Int, Padding)] = [
            (48, 48, 32, 33, 3, 1, .same(1)), (96, 64, 40, 30, 3, 1, .same(1)), (96, 96, 16, 16, 3, 1, .same(1)),
            (48, 96, 17, 16, 3, 2, .same(1)), (192, 96, 8, 8, 1, 1, .zero), (8, 16, 9, 7, 3, 2, Padding(top: 0, left: 0, bottom: 1, right: 1)),
        ]
        for precision in [Precision.fp32, .bf16] {
            let ws = Workspace.testing { $0.precision = precision }
            for (cin, cout, h, w, k, s, p) in cases {
                let conv = Conv2D(weight: noise.tensor([cout, cin, k, k]), bias: noise.tensor([cout]), stride: s, padding: p)
                let items = maps(3, [cin, h, w], seed: UInt64(cin * h))
                let alone = items.map { conv($0, ws, activation: .relu) }
                let diff = relativeDifference(conv(Tensor.batch(items), ws, activation: .relu), alone)
                XCTAssertLessThan(diff, precision == .fp32 ? 1e-6 : 1e-2, "\(precision) conv \(cin)->\(cout) \(h)x\(w) k\(k) s\(s)")
            }
        }
        // The fused residual form: bit for bit where the F(4x4, 3x3) kernel runs it, otherwise
        // F(2x2, 3x3) products, then the sum.
        let conv = Conv2D(weight: noise.tensor([64, 40, 3, 3]), bias: noise.tensor([64]), padding: .same(1))
        let items = maps(2, [40, 36, 37], seed: 3), residuals = maps(2, [64, 36, 37], seed: 4)
        let ws = Workspace.testing()
        let alone = zip(items, residuals).map { conv($0, ws, residual: $1, activation: .relu) }
        let diff = relativeDifference(conv(Tensor.batch(items), ws, residual: Tensor.batch(residuals), activation: .relu), alone)
        if RuntimeOptions.avx512Supported { XCTAssertEqual(diff, 0) } else { XCTAssertLessThan(diff, 1e-6) }
    }

    func testNormsResizingAndTransposedConvolution() throws {
        var noise = GaussianNoise(seed: 5)
        let ws = Workspace.testing()
        let items = maps(3, [32, 9, 11], seed: 6)
        let batch = Tensor.batch(items)
        let norm = GroupNorm(groups: 8, eps: 1e-5, weight: noise.tensor([32]), bias: noise.tensor([32]))
        XCTAssertEqual(relativeDifference(norm(batch, ws, activation: .silu), items.map { norm($0, ws, activation: .silu) }), 0)
        let channelNorm = ChannelLayerNorm(eps: 1e-6, weight: noise.tensor([32]), bias: noise.tensor([32]))
        XCTAssertEqual(relativeDifference(channelNorm(batch, ws), items.map { channelNorm($0, ws) }), 0)
        XCTAssertEqual(relativeDifference(Resize.nearest(batch, height: 18, width: 22, ws),
                                          items.map { Resize.nearest($0, height: 18, width: 22, ws) }), 0)
        XCTAssertEqual(relativeDifference(Resize.bilinear(batch, height: 20, width: 15, ws),
                                          items.map { Resize.bilinear($0, height: 20, width: 15, ws) }), 0)
        let up = try ConvTranspose2D(weight: noise.tensor([32, 16, 2, 2]), bias: noise.tensor([16]))
        XCTAssertLessThan(relativeDifference(up(batch, ws), items.map { up($0, ws) }), 1e-6)
        let bias = noise.tensor([3, 32])
        let shifted = batch.copy()
        shifted.addChannelBias(bias)
        let alone = items.enumerated().map { i, item in
            let t = item.copy()
            t.addChannelBias(Tensor(shape: [32], values: Array(bias.array[(i * 32)..<(i * 32 + 32)])))
            return t
        }
        XCTAssertEqual(relativeDifference(shifted, alone), 0)
    }

    func testAttentionKeepsSequencesApart() {
        var noise = GaussianNoise(seed: 7)
        let ws = Workspace.testing()
        for (n, width, heads) in [(64, 96, 4), (100, 32, 2)] {
            let q = noise.tensor([3 * n, width]), k = noise.tensor([3 * n, width]), v = noise.tensor([3 * n, width])
            let batched = Attention.multiHead(q: q, k: k, v: v, heads: heads, batch: 3, ws)
            for i in 0..<3 {
                let rows = (i * n)..<((i + 1) * n)
                let alone = Attention.multiHead(q: q.slice(rows), k: k.slice(rows), v: v.slice(rows), heads: heads, ws)
                XCTAssertEqual(batched.slice(rows).array, alone.array, "sequence \(i), \(heads) heads of \(width / heads)")
            }
        }
    }
}
