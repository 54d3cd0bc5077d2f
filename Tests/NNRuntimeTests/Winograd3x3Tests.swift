import XCTest
@testable import NNRuntime
import TestSupport

final class Winograd3x3Tests: XCTestCase {
    /// Winograd F(2x2, 3x3) must match the im2col path (itself checked against PyTorch) on
    /// odd and even sizes, with and without bias, across band boundaries.
    func testMatchesIm2col() {
        var noise = GaussianNoise(seed: 7)
        for (cin, cout, h, w) in [(32, 48, 33, 35), (40, 32, 32, 32), (32, 32, 1, 1500), (64, 32, 130, 67)] {
            let weight = noise.tensor([cout, cin, 3, 3])
            let bias = noise.tensor([cout])
            let x = noise.tensor([cin, h, w])
            let conv = Conv2D(weight: weight, bias: bias, padding: .same(1))
            let reference = conv(x, .testing { $0.winograd = false })
            let out = conv(x, .testing())
            XCTAssertEqual(out.shape, reference.shape)
            var maxDiff: Float = 0, scale: Float = 0
            for i in 0..<out.count { maxDiff = max(maxDiff, abs(out[i] - reference[i])); scale = max(scale, abs(reference[i])) }
            XCTAssertLessThan(maxDiff / scale, 1e-5, "cin \(cin) cout \(cout) \(h)x\(w)")
        }
    }
}
