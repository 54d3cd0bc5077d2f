/// 2x2 max pooling with stride 2 and ceil mode (`F.max_pool2d(x, 2, 2, ceil_mode=True)`, Keras
/// `MaxPooling2D(padding="same")`): an odd last row or column pools over the pixels it has.
public enum MaxPool2D {
    /// `[C, H, W]` (or a `[C, B, H, W]` batch) -> `[C, ceil(H/2), ceil(W/2)]`.
    public static func pool2x2(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let (c, b, h, w) = x.maps
        let oh = (h + 1) / 2, ow = (w + 1) / 2
        let out = Tensor(shape: Tensor.mapShape(c: c, b: b, h: oh, w: ow))
        ws.forRange(c * b, minPerThread: 4) { planes in
            for p in planes {
                let src = x.data + p * h * w, dst = out.data + p * oh * ow
                for oy in 0..<oh {
                    let r0 = src + 2 * oy * w, r1 = 2 * oy + 1 < h ? r0 + w : r0
                    let d = dst + oy * ow
                    for ox in 0..<(w / 2) {
                        d[ox] = max(max(r0[2 * ox], r0[2 * ox + 1]), max(r1[2 * ox], r1[2 * ox + 1]))
                    }
                    if w % 2 == 1 { d[ow - 1] = max(r0[w - 1], r1[w - 1]) }
                }
            }
        }
        return out
    }
}
