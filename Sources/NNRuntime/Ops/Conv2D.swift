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
    public let weight: Parameter  // [Cout, Cin, kh, kw]
    public let bias: Tensor?      // [Cout]
    public let stride: Int
    public let padding: Padding
    /// The kernels transformed for Winograd F(2x2, 3x3) (`[16, Cout, Cin]`, 16/9 their size) and
    /// F(4x4, 3x3) (`[36, Cin, Cout]`, 4x), made when a conv first runs on a large map: only convs
    /// at the high-resolution levels pay.
    private let winograd2x2: Parameter?
    private let winograd4x4: Parameter?

    public init(weight: Parameter, bias: Tensor?, stride: Int = 1, padding: Padding) {
        precondition(weight.rank == 4, "conv weight must be rank 4, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        // F(2x2, 3x3) pays off once channel counts make the sgemms dominate the transforms;
        // the fused F(4x4, 3x3) kernel also beats im2col's K=27 sgemm on RGB input layers.
        let (cout, cin) = (weight.shape[0], weight.shape[1])
        let same3x3 = weight.shape[2] == 3 && weight.shape[3] == 3 && stride == 1 && padding == .same(1) && cout >= 32
        winograd2x2 = same3x3 && cin >= 32 ? weight.derived(shape: [16, cout, cin], Winograd3x3.transformWeights) : nil
        winograd4x4 = same3x3 ? weight.derived(shape: [36, cin, cout], Winograd4x4.transformWeights) : nil
    }

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding) {
        self.init(weight: Parameter(weight), bias: bias, stride: stride, padding: padding)
    }

    public var outChannels: Int { weight.shape[0] }
    public var inChannels: Int { weight.shape[1] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        let kh = weight.shape[2], kw = weight.shape[3]
        return ((height + padding.top + padding.bottom - kh) / stride + 1,
                (width + padding.left + padding.right - kw) / stride + 1)
    }

    /// `x` is `[Cin, H, W]` (or a `[Cin, B, H, W]` batch); returns `[Cout, Ho, Wo]` (`[Cout, B, Ho, Wo]`).
    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor { callAsFunction(x, ws, activation: .identity) }

    /// The convolution followed by `activation`, applied while the output is still in cache.
    public func callAsFunction(_ x: Tensor, _ ws: Workspace, activation: Activation) -> Tensor {
        callAsFunction(x, ws, residual: nil, activation: activation)
    }

    /// activation(conv(x) + residual), `residual` shaped like the output: the sum and the
    /// activation are fused into the Winograd F(4x4, 3x3) kernel's output pass where it runs.
    /// `x` may be a `[Cin, B, H, W]` batch (see `Tensor+Batch`): every path then runs the whole
    /// batch through each of its matrix products at once.
    public func callAsFunction(_ x: Tensor, _ ws: Workspace, residual: Tensor?, activation: Activation) -> Tensor {
        let (cin, batch, h, w) = x.maps
        precondition(cin == inChannels, "conv input \(x.shape) for weight \(weight.shape)")
        let kh = weight.shape[2], kw = weight.shape[3]
        if let winograd4x4, ws.options.winograd, h * w >= Winograd3x3.minPixels,
           Winograd4x4.accepts(cin: cin, cout: outChannels, activation: activation, ws.options) {
            if let residual {
                precondition(residual.shape == Tensor.mapShape(c: outChannels, b: batch, h: h, w: w), "residual \(residual.shape)")
            }
            return Winograd4x4.conv(x, u: winograd4x4.floats, bias: bias, residual: residual, activation: activation, ws)
        }
        if let residual {
            let out = callAsFunction(x, ws, residual: nil, activation: .identity)   // [Cout, (B,) Ho, Wo]
            out.add(residual, ws)
            activation.apply(out.data, count: out.count, ws)
            return out
        }
        if let winograd2x2, ws.options.winograd, h * w >= Winograd3x3.minPixels {
            return Winograd3x3.conv(x, u: winograd2x2, bias: bias, activation: activation, ws)
        }
        let (ho, wo) = outputSize(height: h, width: w)
        let out = Tensor(shape: Tensor.mapShape(c: outChannels, b: batch, h: ho, w: wo))
        // The batch's maps are consecutive within each channel: one row of B * Ho * Wo columns.
        let n = batch * ho * wo, k = cin * kh * kw
        if let bias {
            // Seed the output with the bias so sgemm accumulates onto it (beta = 1).
            let b = bias.data
            ws.forRange(outChannels, minPerThread: 64) { range in
                for c in range { (out.data + c * n).update(repeating: b[c], count: n) }
            }
        }
        let beta: Float = bias == nil ? 0 : 1
        if kh == 1 && kw == 1 && stride == 1 && padding == .zero {
            GEMM.sgemm(m: outChannels, n: n, k: k, a: .constant(.init(weight)), lda: k, b: .floats(x.data), ldb: n, beta: beta,
                       c: out.data, ldc: n, ws)
            activation.apply(out.data, count: out.count, ws)
            return out
        }
        // im2col a band of output rows at a time: the column matrix of a 512x512 map would
        // take over a GiB, a band stays near cache size. Rows run on through the batch's maps.
        let totalRows = batch * ho
        let rowsPerBand = max(1, min(totalRows, Self.bandFloats / max(k * wo, 1)))
        let cols = ws.buffer(Workspace.Slot.im2col, count: k * rowsPerBand * wo)
        var y0 = 0
        while y0 < totalRows {
            let rows = min(rowsPerBand, totalRows - y0), nb = rows * wo
            im2col(x.data, cin: cin, batch: batch, h: h, w: w, kh: kh, kw: kw, ho: ho, rows: y0..<(y0 + rows), wo: wo, into: cols, ws)
            GEMM.sgemm(m: outChannels, n: nb, k: k, a: .constant(.init(weight)), lda: k, b: .floats(cols), ldb: nb, beta: beta,
                       c: out.data + y0 * wo, ldc: n, ws)
            if case .identity = activation {} else {
                ws.forRange(outChannels, minPerThread: 16) { channels in
                    for c in channels { activation.applySerial(out.data + c * n + y0 * wo, count: nb) }
                }
            }
            y0 += rows
        }
        return out
    }

    /// Column-matrix budget per band, in floats (8 MiB).
    static let bandFloats = 1 << 21

    /// Writes the `[Cin*kh*kw, rows*wo]` column matrix of output rows `rows`, counted on
    /// through the `batch` maps of `ho` rows each.
    private func im2col(_ src: UnsafeMutablePointer<Float>, cin: Int, batch: Int, h: Int, w: Int, kh: Int, kw: Int, ho: Int,
                        rows: Range<Int>, wo: Int, into dst: UnsafeMutablePointer<Float>, _ ws: Workspace) {
        let s = stride, pt = padding.top, pl = padding.left
        let n = rows.count * wo
        ws.forRange(cin, minPerThread: 4) { range in
            for c in range {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let row = dst + ((c * kh + ky) * kw + kx) * n
                        for vy in rows {
                            let plane = src + (c * batch + vy / ho) * h * w, oy = vy % ho
                            let iy = oy * s + ky - pt
                            let line = row + (vy - rows.lowerBound) * wo
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
                                // Valid outputs: 0 <= ox * s + kx - pl < w; borders are zero.
                                let lo = min(wo, max(0, (pl - kx + s - 1) / s))
                                let hi = max(lo, min(wo, (w + pl - kx + s - 1) / s))
                                if lo > 0 { line.update(repeating: 0, count: lo) }
                                var src = srcLine + (lo * s + kx - pl)
                                for ox in lo..<hi {
                                    line[ox] = src.pointee
                                    src += s
                                }
                                if hi < wo { (line + hi).update(repeating: 0, count: wo - hi) }
                            }
                        }
                    }
                }
            }
        }
    }
}
