import Foundation

/// Seeded standard-normal noise: SplitMix64 bits, Box-Muller pairs. Same seed, same tensor,
/// on every platform.
public struct GaussianNoise: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    private mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in (0, 1].
    private mutating func uniform() -> Double { (Double(next() >> 11) + 1) / 9_007_199_254_740_992 }

    public mutating func tensor(_ shape: [Int]) -> Tensor {
        let t = Tensor(shape: shape)
        var i = 0
        while i < t.count {
            let r = (-2 * Foundation.log(uniform())).squareRoot(), theta = 2 * Double.pi * uniform()
            t[i] = Float(r * Foundation.cos(theta))
            if i + 1 < t.count { t[i + 1] = Float(r * Foundation.sin(theta)) }
            i += 2
        }
        return t
    }
}
