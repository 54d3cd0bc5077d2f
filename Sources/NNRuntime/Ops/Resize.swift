/// Spatial resizing of `[C, H, W]` maps (and `[C, B, H, W]` batches, by nearest and bilinear)
/// with `torch.nn.functional.interpolate` semantics.
public enum Resize {
    /// Nearest neighbour (`mode="nearest"`): source index = floor(dst * in / out).
    public static func nearest(_ x: Tensor, height oh: Int, width ow: Int, _ ws: Workspace) -> Tensor {
        if x.rank == 4 { return perPlane(x, height: oh, width: ow) { nearest($0, height: oh, width: ow, ws) } }
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let out = Tensor(shape: [c, oh, ow])
        let xs = (0..<ow).map { min(w - 1, Int(Float($0) * (Float(w) / Float(ow)))) }
        ws.forRange(c, minPerThread: 8) { range in
            for ch in range {
                let src = x.data + ch * h * w, dst = out.data + ch * oh * ow
                for y in 0..<oh {
                    let sy = min(h - 1, Int(Float(y) * (Float(h) / Float(oh))))
                    let s = src + sy * w, d = dst + y * ow
                    for xx in 0..<ow { d[xx] = s[xs[xx]] }
                }
            }
        }
        return out
    }

    /// Bilinear with `align_corners=False` and no antialiasing (PyTorch's default).
    public static func bilinear(_ x: Tensor, height oh: Int, width ow: Int, _ ws: Workspace) -> Tensor {
        if x.rank == 4 { return perPlane(x, height: oh, width: ow) { bilinear($0, height: oh, width: ow, ws) } }
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let out = Tensor(shape: [c, oh, ow])
        let ys = taps(input: h, output: oh), xs = taps(input: w, output: ow)
        ws.forRange(c, minPerThread: 4) { range in
            for ch in range {
                let src = x.data + ch * h * w, dst = out.data + ch * oh * ow
                for y in 0..<oh {
                    let ty = ys[y]
                    let r0 = src + ty.i0 * w, r1 = src + ty.i1 * w, d = dst + y * ow
                    for xx in 0..<ow {
                        let tx = xs[xx]
                        let top = r0[tx.i0] * (1 - tx.f) + r0[tx.i1] * tx.f
                        let bottom = r1[tx.i0] * (1 - tx.f) + r1[tx.i1] * tx.f
                        d[xx] = top * (1 - ty.f) + bottom * ty.f
                    }
                }
            }
        }
        return out
    }

    /// `bilinear` of an interleaved 8-bit RGB image scaled to [0, 1] (`[3, oh, ow]`), read
    /// straight from its bytes: the values `bilinear` gives the image as a float tensor, without
    /// that full-size tensor (a 36-megapixel photo's is 432 MB).
    public static func bilinear(rgb: [UInt8], width w: Int, height h: Int, toHeight oh: Int, width ow: Int, _ ws: Workspace) -> Tensor {
        precondition(rgb.count == w * h * 3, "\(rgb.count) bytes for \(w)x\(h) RGB")
        let out = Tensor(shape: [3, oh, ow])
        let ys = taps(input: h, output: oh), xs = taps(input: w, output: ow)
        rgb.withUnsafeBufferPointer { bytes in
            let src = bytes.baseAddress!
            ws.forRange(oh, minPerThread: 8) { rows in
                for y in rows {
                    let ty = ys[y]
                    let r0 = src + ty.i0 * w * 3, r1 = src + ty.i1 * w * 3
                    for ch in 0..<3 {
                        let d = out.data + (ch * oh + y) * ow
                        for xx in 0..<ow {
                            let tx = xs[xx]
                            let a = Float(r0[tx.i0 * 3 + ch]) / 255, b = Float(r0[tx.i1 * 3 + ch]) / 255
                            let c = Float(r1[tx.i0 * 3 + ch]) / 255, e = Float(r1[tx.i1 * 3 + ch]) / 255
                            let top = a * (1 - tx.f) + b * tx.f
                            let bottom = c * (1 - tx.f) + e * tx.f
                            d[xx] = top * (1 - ty.f) + bottom * ty.f
                        }
                    }
                }
            }
        }
        return out
    }

    /// A `[C, B, H, W]` batch resized as its C * B planes.
    private static func perPlane(_ x: Tensor, height oh: Int, width ow: Int, _ resize: (Tensor) -> Tensor) -> Tensor {
        let (c, b, h, w) = x.maps
        return resize(x.reshaped([c * b, h, w])).reshaped([c, b, oh, ow])
    }

    /// PIL's resampling filters (and `interpolate(..., antialias=True)`'s).
    public enum Filter: Sendable {
        /// Triangle, support 1 (`BILINEAR`).
        case bilinear
        /// Cubic with a = -0.5, support 2 (`BICUBIC`).
        case bicubic
    }

    /// Antialiased resizing as PIL does it (`BICUBIC`: `mode="bicubic", antialias=True`): when
    /// shrinking, the filter widens by the scale so every source pixel contributes.
    /// Horizontal pass, then vertical, each only where its axis changes size. With `levels`
    /// (255 for 8-bit images) each pass rounds to that grid within [0, 1], as PIL does.
    public static func antialiased(_ x: Tensor, height oh: Int, width ow: Int, filter: Filter = .bicubic, levels: Float? = nil,
                                   _ ws: Workspace) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        func quantize(_ t: Tensor) {
            guard let levels else { return }
            for i in 0..<t.count { t.data[i] = (min(max(t.data[i], 0), 1) * levels).rounded() / levels }
        }
        if oh == h && ow == w { return x.copy() }
        var rows = x                                                    // [C, H, W'] after the horizontal pass
        if ow != w {
            let xs = antialiasedTaps(input: w, output: ow, filter: filter)
            rows = Tensor(shape: [c, h, ow])
            ws.forRange(c * h, minPerThread: 16) { range in
                for r in range {
                    let src = x.data + r * w, dst = rows.data + r * ow
                    for (o, tap) in xs.enumerated() {
                        var acc: Float = 0
                        for (k, weight) in tap.weights.enumerated() { acc += src[tap.start + k] * weight }
                        dst[o] = acc
                    }
                }
            }
            quantize(rows)
        }
        guard oh != h else { return rows }
        let ys = antialiasedTaps(input: h, output: oh, filter: filter)
        let out = Tensor(shape: [c, oh, ow])                            // [C, H', W']
        ws.forRange(c * oh, minPerThread: 16) { range in
            for r in range {
                let ch = r / oh, tap = ys[r % oh]
                let dst = out.data + r * ow
                for xx in 0..<ow { dst[xx] = 0 }
                for (k, weight) in tap.weights.enumerated() {
                    let src = rows.data + (ch * h + tap.start + k) * ow
                    for xx in 0..<ow { dst[xx] += src[xx] * weight }
                }
            }
        }
        quantize(out)
        return out
    }

    /// First source index and normalised weights per output position, as PIL computes them.
    static func antialiasedTaps(input: Int, output: Int, filter: Filter = .bicubic) -> [(start: Int, weights: [Float])] {
        func kernel(_ v: Double) -> Double {
            let x = abs(v)
            switch filter {
            case .bilinear:
                return x < 1 ? 1 - x : 0
            case .bicubic:
                let a = -0.5
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            }
        }
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1), support = (filter == .bilinear ? 1 : 2) * filterScale
        return (0..<output).map { o in
            let centre = (Double(o) + 0.5) * scale
            let lo = max(Int(centre - support + 0.5), 0), hi = min(Int(centre + support + 0.5), input)
            let raw = (lo..<hi).map { kernel((Double($0) - centre + 0.5) / filterScale) }
            let total = raw.reduce(0, +)
            return (lo, raw.map { Float(total == 0 ? 0 : $0 / total) })
        }
    }

    /// Source indices and weight for each output position (half-pixel centres, clamped at 0).
    public static func taps(input: Int, output: Int) -> [(i0: Int, i1: Int, f: Float)] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { o in
            let src = max(0, (Float(o) + 0.5) * scale - 0.5)
            let i0 = min(Int(src), input - 1)
            let i1 = min(i0 + 1, input - 1)
            return (i0, i1, src - Float(i0))
        }
    }
}
