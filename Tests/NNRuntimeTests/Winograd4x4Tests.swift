import XCTest
@testable import NNRuntime

final class Winograd4x4Tests: XCTestCase {
    /// The AVX-512 Winograd F(4x4, 3x3) kernel with its fused bias, residual and ReLU must
    /// match the im2col path (itself checked against PyTorch) followed by the same epilogue:
    /// sizes that are not multiples of the 4x4 tile, widths over one 64-tile chunk, partial
    /// channel groups, a single row, an RGB input layer, with and without bias.
    func testMatchesIm2col() throws {
        try XCTSkipUnless(Winograd4x4.supported, "CPU lacks AVX-512 (or SEGSERVE_NO_AVX512 is set)")
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
            let ws = Workspace()
            let conv = Conv2D(weight: weight, bias: bias, padding: .same(1))
            XCTAssertTrue(Winograd4x4.accepts(cin: c.cin, cout: c.cout, activation: c.activation))
            Conv2D.useWinograd = false
            let reference = conv(x, ws)                          // [Cout, H, W]
            Conv2D.useWinograd = true
            if let residual { reference.add(residual) }
            c.activation.apply(reference.data, count: reference.count)
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
        let ws = Workspace()
        let fused = conv(x, ws, residual: residual, activation: .relu)
        Conv2D.useWinograd4x4 = false
        defer { Conv2D.useWinograd4x4 = true }
        let plain = conv(x, ws, residual: residual, activation: .relu)
        let reference = conv(x, ws)
        reference.add(residual)
        Activation.relu.apply(reference.data, count: reference.count)
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
