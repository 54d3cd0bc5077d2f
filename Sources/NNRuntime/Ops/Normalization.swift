/// `torch.nn.GroupNorm` over a `[C, H, W]` map, or each map of a `[C, B, H, W]` batch,
/// optionally fused with an activation.
public struct GroupNorm: Sendable {
    public let groups: Int
    public let eps: Float
    public let weight: Tensor?  // [C]
    public let bias: Tensor?    // [C]

    public init(groups: Int, eps: Float, weight: Tensor?, bias: Tensor?) {
        self.groups = groups; self.eps = eps; self.weight = weight; self.bias = bias
    }

    public func callAsFunction(_ x: Tensor, _ ws: Workspace, activation: Activation = .identity) -> Tensor {
        let (c, batch, h, w) = x.maps, plane = h * w
        precondition(c % groups == 0, "GroupNorm: \(c) channels not divisible by \(groups) groups")
        let per = c / groups
        let out = Tensor(shape: x.shape)
        ws.forRange(batch * groups, minPerThread: 1) { range in
            for unit in range {
                let (i, g) = unit.quotientAndRemainder(dividingBy: groups)
                // Two passes, each plane summed in float lanes and the planes in double: group
                // sizes reach millions of values at high resolution.
                var sum = 0.0
                for ch in g * per..<(g + 1) * per { sum += Self.laneSum(x.plane(ch, i), plane) { $0 } }
                let n = Double(per * plane), m = Float(sum / n)
                var sq = 0.0
                for ch in g * per..<(g + 1) * per {
                    sq += Self.laneSum(x.plane(ch, i), plane) { ($0 - SIMD16(repeating: m)) * ($0 - SIMD16(repeating: m)) }
                }
                let inv = Float(1 / (sq / n + Double(eps)).squareRoot())
                for cc in g * per..<(g + 1) * per {
                    let scale = inv * (weight?.data[cc] ?? 1), shift = bias?.data[cc] ?? 0
                    let s = x.plane(cc, i), d = out.plane(cc, i)
                    for p in 0..<plane { d[p] = (s[p] - m) * scale + shift }
                    activation.applySerial(d, count: plane)
                }
            }
        }
        return out
    }

    /// The sum of `term` over `count` values: 16 float lanes over blocks of at most 8192
    /// values, so no lane sums more than 512, and the blocks in double.
    @inline(__always)
    static func laneSum(_ p: UnsafePointer<Float>, _ count: Int, _ term: (SIMD16<Float>) -> SIMD16<Float>) -> Double {
        var total = 0.0
        var j = 0
        while j < count {
            let end = min(count, j + 8192)
            var a = SIMD16<Float>(), b = SIMD16<Float>()
            while j + 32 <= end {
                a += term(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self))
                b += term(UnsafeRawPointer(p + j + 16).loadUnaligned(as: SIMD16<Float>.self))
                j += 32
            }
            if j + 16 <= end {
                a += term(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self))
                j += 16
            }
            let lanes = a + b
            for k in 0..<16 { total += Double(lanes[k]) }
            if j < end {
                var tail = SIMD16<Float>()
                for k in j..<end { tail[k - j] = p[k] }
                let last = term(tail)
                for k in 0..<(end - j) { total += Double(last[k]) }
                j = end
            }
        }
        return total
    }
}

/// `torch.nn.LayerNorm` over the last dimension of `[N, C]` tokens.
public struct LayerNorm: Sendable {
    public let eps: Float
    public let weight: Tensor?
    public let bias: Tensor?

    public init(eps: Float, weight: Tensor?, bias: Tensor?) {
        self.eps = eps; self.weight = weight; self.bias = bias
    }

    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let c = x.shape[x.rank - 1], rows = x.count / c
        let out = Tensor(shape: x.shape)
        ws.forRange(rows, minPerThread: 16) { range in
            for r in range {
                let s = x.data + r * c, d = out.data + r * c
                var mean: Float = 0
                for j in 0..<c { mean += s[j] }
                mean /= Float(c)
                var v: Float = 0
                for j in 0..<c { let t = s[j] - mean; v += t * t }
                let inv = 1 / (v / Float(c) + eps).squareRoot()
                for j in 0..<c { d[j] = (s[j] - mean) * inv * (weight?.data[j] ?? 1) + (bias?.data[j] ?? 0) }
            }
        }
        return out
    }
}

/// LayerNorm over the channels of each pixel of a `[C, H, W]` map or `[C, B, H, W]` batch
/// (LDMSeg `LayerNorm2d`), optionally fused with an activation.
public struct ChannelLayerNorm: Sendable {
    public let eps: Float
    public let weight: Tensor
    public let bias: Tensor

    public init(eps: Float, weight: Tensor, bias: Tensor) {
        self.eps = eps; self.weight = weight; self.bias = bias
    }

    public func callAsFunction(_ x: Tensor, _ ws: Workspace, activation: Activation = .identity) -> Tensor {
        let c = x.shape[0], plane = x.count / c
        let out = Tensor(shape: x.shape)
        ws.forRange(plane, minPerThread: 256) { range in
            let lo = range.lowerBound, n = range.count
            var mean = [Float](repeating: 0, count: n), sq = [Float](repeating: 0, count: n)
            // Channel-major walk keeps memory access contiguous.
            for ch in 0..<c {
                let s = x.data + ch * plane + lo
                for i in 0..<n { mean[i] += s[i] }
            }
            for i in 0..<n { mean[i] /= Float(c) }
            for ch in 0..<c {
                let s = x.data + ch * plane + lo
                for i in 0..<n { let t = s[i] - mean[i]; sq[i] += t * t }
            }
            for i in 0..<n { sq[i] = 1 / (sq[i] / Float(c) + eps).squareRoot() }
            for ch in 0..<c {
                let s = x.data + ch * plane + lo, d = out.data + ch * plane + lo
                let w = weight.data[ch], b = bias.data[ch]
                for i in 0..<n { d[i] = (s[i] - mean[i]) * sq[i] * w + b }
                activation.applySerial(d, count: n)
            }
        }
        return out
    }
}
