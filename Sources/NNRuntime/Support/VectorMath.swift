/// Vectorised exp / erf on 8 lanes, accurate to a few ulp: libm's scalar calls dominate
/// softmax, SiLU and GELU otherwise.
public enum VectorMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func exp(_ x0: V) -> V {
        // Cephes expf: exp(x) = 2^n * exp(r), |r| <= ln2 / 2, degree-6 polynomial for exp(r).
        let x1 = x0.clamped(lowerBound: V(repeating: -87.3), upperBound: V(repeating: 88.3))
        let n = (x1 * 1.44269504088896341 + 0.5).rounded(.down)
        var r = x1 - n * 0.693359375
        r = r - n * (-2.12194440e-4)
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let bits = (SIMD8<Int32>(n) &+ 127) &<< 23
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
