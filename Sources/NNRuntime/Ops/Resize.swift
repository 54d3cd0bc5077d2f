/// Spatial resizing of `[C, H, W]` maps with `torch.nn.functional.interpolate` semantics.
public enum Resize {
    /// Nearest neighbour (`mode="nearest"`): source index = floor(dst * in / out).
    public static func nearest(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let out = Tensor(shape: [c, oh, ow])
        let xs = (0..<ow).map { min(w - 1, Int(Float($0) * (Float(w) / Float(ow)))) }
        Parallel.forRange(c, minPerThread: 8) { range in
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
    public static func bilinear(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let out = Tensor(shape: [c, oh, ow])
        let ys = taps(input: h, output: oh), xs = taps(input: w, output: ow)
        Parallel.forRange(c, minPerThread: 4) { range in
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
