import Foundation

/// Seeded standard-normal noise: SplitMix64 bits, Box-Muller pairs. Same seed, same tensor,
/// on every platform.
public struct GaussianNoise: Sendable {
    private var bits: SplitMix64

    public init(seed: UInt64) { bits = SplitMix64(seed: seed) }

    private mutating func next() -> UInt64 { bits.next() }

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
