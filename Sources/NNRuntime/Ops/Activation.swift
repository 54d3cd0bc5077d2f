import Foundation

/// Pointwise activations, with the exact formulas PyTorch uses.
public enum Activation: Sendable {
    case identity, silu, gelu, relu, relu6, tanh, sigmoid

    @inline(__always)
    public func apply(_ v: Float) -> Float {
        switch self {
        case .identity: return v
        case .silu: return v / (1 + expf(-v))
        case .gelu: return 0.5 * v * (1 + erff(v * 0.70710678118654752))
        case .relu: return max(v, 0)
        case .relu6: return min(max(v, 0), 6)
        case .tanh: return tanhf(v)
        case .sigmoid: return 1 / (1 + expf(-v))
        }
    }

    /// Applies the activation in place over `count` values (vectorised).
    public func apply(_ p: UnsafeMutablePointer<Float>, count: Int, _ ws: Workspace) {
        if case .identity = self { return }
        ws.forRange(count, minPerThread: 1 << 15) { r in
            applySerial(p + r.lowerBound, count: r.count)
        }
    }

    /// Single-threaded vectorised form, for callers that already run in parallel.
    @inline(__always)
    public func applySerial(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .identity: return
        case .silu: VectorMath.map(p, count: count, VectorMath.silu)
        case .gelu: VectorMath.map(p, count: count, VectorMath.gelu)
        case .sigmoid: VectorMath.map(p, count: count, VectorMath.sigmoid)
        case .relu: VectorMath.map(p, count: count) { $0.replacing(with: 0, where: $0 .< 0) }
        case .relu6: VectorMath.map(p, count: count) { $0.clamped(lowerBound: .zero, upperBound: SIMD8(repeating: 6)) }
        case .tanh: for i in 0..<count { p[i] = tanhf(p[i]) }
        }
    }
}

extension Tensor {
    /// A new tensor with `activation` applied elementwise.
    public func applying(_ activation: Activation, _ ws: Workspace) -> Tensor {
        let t = copy()
        activation.apply(t.data, count: t.count, ws)
        return t
    }
}

/// GEGLU without its projection: `[N, 2F]` -> `[N, F]`, first half times gelu(second half).
public func geglu(_ x: Tensor, _ ws: Workspace) -> Tensor {
    let twoF = x.shape[x.rank - 1], f = twoF / 2, rows = x.count / twoF
    var shape = x.shape
    shape[shape.count - 1] = f
    let out = Tensor(shape: shape)
    ws.forRange(rows, minPerThread: 8) { r in
        for i in r {
            let src = x.data + i * twoF, dst = out.data + i * f
            dst.update(from: src + f, count: f)
            Activation.gelu.applySerial(dst, count: f)
            for j in 0..<f { dst[j] *= src[j] }
        }
    }
    return out
}

/// Softmax over the last dimension.
public func softmax(_ x: Tensor, _ ws: Workspace) -> Tensor {
    let n = x.shape[x.rank - 1], rows = x.count / n
    let out = x.copy()
    ws.forRange(rows, minPerThread: 16) { r in
        for i in r { softmaxRow(out.data + i * n, count: n) }
    }
    return out
}

@inline(__always)
func softmaxRow(_ p: UnsafeMutablePointer<Float>, count n: Int) {
    let s = expShiftedSum(p, count: n, shift: VectorMath.max(p, count: n))
    let inv = 1 / s
    for j in 0..<n { p[j] *= inv }
}

/// Replaces `p[j]` by `exp(p[j] - shift)` and returns their sum.
@inline(__always)
func expShiftedSum(_ p: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    let c = SIMD8<Float>(repeating: shift)
    var j = 0
    while j + 8 <= n {
        let e = VectorMath.exp(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) - c)
        UnsafeMutableRawPointer(p + j).storeBytes(of: e, as: SIMD8<Float>.self)
        acc += e
        j += 8
    }
    var s = acc.sum()
    while j < n { p[j] = expf(p[j] - shift); s += p[j]; j += 1 }
    return s
}
