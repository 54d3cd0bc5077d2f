/// Vectorised exp / erf on 8 lanes, accurate to a few ulp: libm's scalar calls dominate
/// softmax, SiLU and GELU otherwise.
public enum VectorMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func exp(_ x0: V) -> V {
        // Cephes expf: exp(x) = 2^n * exp(r), |r| <= ln2 / 2, degree-6 polynomial for exp(r).
        // Clamp with masks: `clamped` goes through generic pointwise min/max calls.
        var x1 = x0.replacing(with: V(repeating: -87.3), where: x0 .< -87.3)
        x1.replace(with: V(repeating: 88.3), where: x1 .> 88.3)
        // Round x*log2(e) to the nearest integer with the 1.5*2^23 trick: generic SIMD
        // rounding and float->int conversions are scalar loops in Swift.
        let magic = V(repeating: 12_582_912)
        let shifted = x1 * 1.44269504088896341 + magic
        let n = shifted - magic
        var r = x1 - n * 0.693359375
        r = r - n * (-2.12194440e-4)
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let bits = (ni &+ 127) &<< 23
        return y * unsafeBitCast(bits, to: V.self)
    }

    /// erf via Abramowitz-Stegun 7.1.26 (absolute error below 1.5e-7).
    @inline(__always)
    public static func erf(_ x: V) -> V {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (a * 0.3275911 + 1)
        var p = V(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        let e = 1 - p * t * exp(-(a * a))
        return e.replacing(with: -e, where: x .< 0)
    }

    @inline(__always) public static func silu(_ x: V) -> V { x / (1 + exp(-x)) }
    @inline(__always) public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }
    @inline(__always) public static func gelu(_ x: V) -> V {
        (x * V(repeating: 0.5)) * (erf(x * V(repeating: 0.70710678118654752)) + V(repeating: 1))
    }

    /// The maximum of `count` floats.
    @inline(__always)
    public static func max(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
            m.replace(with: v, where: v .> m)
            i += 8
        }
        var best = m.max()
        while i < count { best = Swift.max(best, p[i]); i += 1 }
        return best
    }

    /// Applies `f` over `count` floats in place, 8 lanes at a time with a scalar-padded tail.
    @inline(__always)
    public static func map(_ p: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: f(v), as: V.self)
            i += 8
        }
        if i < count {
            var v = V(repeating: 0)
            for j in 0..<(count - i) { v[j] = p[i + j] }
            let r = f(v)
            for j in 0..<(count - i) { p[i + j] = r[j] }
        }
    }
}
