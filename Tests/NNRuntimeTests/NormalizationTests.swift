import NNRuntime
import TestSupport
import XCTest

final class NormalizationTests: XCTestCase {
    /// Group statistics stay accurate over a million values away from zero, and on planes whose
    /// size is no multiple of the kernel's 16 lanes or 8192-value blocks.
    func testGroupNormMatchesADoubleReferenceOnLargeAndRaggedGroups() throws {
        var noise = GaussianNoise(seed: 3)
        for shape in [[2, 1024, 512], [6, 37, 29]] {
            let x = noise.tensor(shape)
            for i in 0..<x.count { x.data[i] = 10 + 2 * x.data[i] }
            let groups = shape[0] / 2, per = 2, plane = shape[1] * shape[2]
            let out = GroupNorm(groups: groups, eps: 1e-5, weight: nil, bias: nil)(x, Workspace.testing())
            for g in 0..<groups {
                let values = (g * per * plane..<(g + 1) * per * plane).map { Double(x.data[$0]) }
                let mean = values.reduce(0, +) / Double(values.count)
                let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
                let inv = 1 / (variance + 1e-5).squareRoot()
                var worst = 0.0
                for (k, v) in values.enumerated() { worst = max(worst, abs(Double(out.data[g * per * plane + k]) - (v - mean) * inv)) }
                XCTAssertLessThan(worst, 1e-5, "shape \(shape) group \(g)")
            }
        }
    }
}
