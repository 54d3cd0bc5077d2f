import XCTest
@testable import NNRuntime
import TestSupport

final class Winograd4x4Tests: XCTestCase {
    /// The AVX-512 Winograd F(4x4, 3x3) kernel with its fused bias, residual and ReLU must
    /// match the im2col path (itself checked against PyTorch) followed by the same epilogue:
    /// sizes that are not multiples of the 4x4 tile, widths over one 64-tile chunk, partial
    /// channel groups, a single row, an RGB input layer, with and without bias.
    func testMatchesIm2col() throws {
        try XCTSkipUnless(RuntimeOptions.avx512Supported, "CPU lacks AVX-512 (or SEGSERVE_NO_AVX512 is set)")
        var noise = GaussianNoise(seed: 11)
        let cases: [(cin: Int, cout: Int, h: Int, w: Int, bias: Bool, residual: Bool, activation: Activation)] = [
            (64, 64, 37, 45, true, true, .relu), (64, 64, 64, 64, true, false, .relu),
            (32, 36, 33, 35, false, false, .identity), (40, 48, 5, 300, true, true, .identity),
            (64, 32, 130, 67, true, false, .relu), (33, 64, 1, 1500, true, true, .relu),
            (64, 64, 2, 513, false, true, .relu), (3, 64, 40, 70, true, false, .identity),
        ]
        for c in cases {
            let weight = noise.tensor([c.cout, c.cin, 3, 3])
            let bias = c.bias ? noise.tensor([c.cout]) : nil
            let x = noise.tensor([c.cin, c.h, c.w])
            let residual = c.residual ? noise.tensor([c.cout, c.h, c.w]) : nil
            let ws = Workspace.testing()
            let conv = Conv2D(weight: weight, bias: bias, padding: .same(1))
            XCTAssertTrue(Winograd4x4.accepts(cin: c.cin, cout: c.cout, activation: c.activation, ws.options))
            let reference = conv(x, .testing { $0.winograd = false })   // [Cout, H, W]
            if let residual { reference.add(residual, ws) }
            c.activation.apply(reference.data, count: reference.count, ws)
            let out = conv(x, ws, residual: residual, activation: c.activation)
            XCTAssertEqual(out.shape, reference.shape)
            var maxDiff: Float = 0, scale: Float = 0
            for i in 0..<out.count { maxDiff = max(maxDiff, abs(out[i] - reference[i])); scale = max(scale, abs(reference[i])) }
            XCTAssertLessThan(maxDiff / scale, 1e-5, "\(c)")
        }
    }

    /// With the F(4x4, 3x3) kernel off, the residual form falls back to conv, add, activation.
    func testResidualFallback() {
        var noise = GaussianNoise(seed: 12)
        let conv = Conv2D(weight: noise.tensor([40, 40, 3, 3]), bias: noise.tensor([40]), padding: .same(1))
        let x = noise.tensor([40, 40, 40]), residual = noise.tensor([40, 40, 40])
        let ws = Workspace.testing(), without4x4 = Workspace.testing { $0.winograd4x4 = false }
        let fused = conv(x, ws, residual: residual, activation: .relu)
        let plain = conv(x, without4x4, residual: residual, activation: .relu)
        let reference = conv(x, without4x4)
        reference.add(residual, ws)
        Activation.relu.apply(reference.data, count: reference.count, ws)
        var fusedDiff: Float = 0, plainDiff: Float = 0, scale: Float = 0
        for i in 0..<reference.count {
            fusedDiff = max(fusedDiff, abs(fused[i] - reference[i]))
            plainDiff = max(plainDiff, abs(plain[i] - reference[i]))
            scale = max(scale, abs(reference[i]))
        }
        XCTAssertLessThan(fusedDiff / scale, 1e-5)
        XCTAssertEqual(plainDiff, 0)
    }
}
