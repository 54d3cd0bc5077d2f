import COpenBLAS

/// Zero padding on each side of a feature map.
public struct Padding: Sendable, Equatable {
    public var top, left, bottom, right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    public static func same(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    public static let zero = Padding.same(0)
}

/// 2-D convolution, `torch.nn.Conv2d` semantics (groups = 1, dilation = 1): im2col + sgemm.
public struct Conv2D: Sendable {
    public let weight: Tensor  // [Cout, Cin, kh, kw]
    public let bias: Tensor?   // [Cout]
    public let stride: Int
    public let padding: Padding

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding) {
        precondition(weight.rank == 4, "conv weight must be rank 4, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public var outChannels: Int { weight.shape[0] }
    public var inChannels: Int { weight.shape[1] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        let kh = weight.shape[2], kw = weight.shape[3]
        return ((height + padding.top + padding.bottom - kh) / stride + 1,
                (width + padding.left + padding.right - kw) / stride + 1)
    }

    /// `x` is `[Cin, H, W]`; returns `[Cout, Ho, Wo]`.
    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        precondition(x.rank == 3 && x.shape[0] == inChannels, "conv input \(x.shape) for weight \(weight.shape)")
        let (cin, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let kh = weight.shape[2], kw = weight.shape[3]
        let (ho, wo) = outputSize(height: h, width: w)
        let out = Tensor(shape: [outChannels, ho, wo])
        let n = ho * wo, k = cin * kh * kw
        let direct = kh == 1 && kw == 1 && stride == 1 && padding == .zero
        let cols: UnsafeMutablePointer<Float>
        if direct {
            cols = x.data
        } else {
            cols = ws.buffer(Workspace.Slot.im2col, count: k * n)
            im2col(x.data, cin: cin, h: h, w: w, kh: kh, kw: kw, ho: ho, wo: wo, into: cols)
        }
        if let bias {
            // Seed the output with the bias so sgemm accumulates onto it (beta = 1).
            let b = bias.data
            Parallel.forRange(outChannels, minPerThread: 64) { range in
                for c in range { (out.data + c * n).update(repeating: b[c], count: n) }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(outChannels), Int32(n), Int32(k),
                    1, weight.data, Int32(k), cols, Int32(n),
                    bias == nil ? 0 : 1, out.data, Int32(n))
        return out
    }

    private func im2col(_ src: UnsafeMutablePointer<Float>, cin: Int, h: Int, w: Int, kh: Int, kw: Int,
                        ho: Int, wo: Int, into dst: UnsafeMutablePointer<Float>) {
        let s = stride, pt = padding.top, pl = padding.left
        let n = ho * wo
        Parallel.forRange(cin, minPerThread: 4) { range in
            for c in range {
                let plane = src + c * h * w
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let row = dst + ((c * kh + ky) * kw + kx) * n
                        for oy in 0..<ho {
                            let iy = oy * s + ky - pt
                            let line = row + oy * wo
                            guard iy >= 0 && iy < h else {
                                line.update(repeating: 0, count: wo)
                                continue
                            }
                            let srcLine = plane + iy * w
                            if s == 1 {
                                // Contiguous run: copy the valid span, zero the borders.
                                let lo = max(0, pl - kx), hi = min(wo, w + pl - kx)
                                if lo > 0 { line.update(repeating: 0, count: min(lo, wo)) }
                                if hi > lo { (line + lo).update(from: srcLine + (lo + kx - pl), count: hi - lo) }
                                if hi < wo { (line + max(hi, 0)).update(repeating: 0, count: wo - max(hi, 0)) }
                            } else {
                                for ox in 0..<wo {
                                    let ix = ox * s + kx - pl
                                    line[ox] = (ix >= 0 && ix < w) ? srcLine[ix] : 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
