import CKernels

/// 3x3 stride-1 convolution with padding 1 by Winograd F(4x4, 3x3) in the AVX-512 C kernel:
/// each 4x4 output tile costs 36 multiplies per channel pair instead of 144 (F(2x2, 3x3)
/// takes 64 for the same tile). Transforms, the small matrix products and the bias,
/// residual and ReLU epilogue run per chunk of 64 tiles, so the transformed data stays in
/// cache. Used for narrow layers (the TAESD encoder's 64-channel maps, RGB input layers),
/// where the K=Cin sgemms of the banded F(2x2, 3x3) path spend much of their time packing.
enum Winograd4x4 {
    /// Widest input this path takes: the transformed chunk (36 x Cin x 64 floats) must stay in L2.
    static let maxInChannels = 64

    /// Whether a conv with these channel counts and activation runs here.
    static func accepts(cin: Int, cout: Int, activation: Activation, _ options: RuntimeOptions) -> Bool {
        guard options.winograd4x4, RuntimeOptions.avx512Supported, cin <= maxInChannels, cout % 4 == 0 else { return false }
        switch activation {
        case .identity, .relu: return true
        default: return false
        }
    }

    /// `[36, Cin, Cout]` transformed weights of `[Cout, Cin, 3, 3]` kernels.
    static func transformWeights(_ weight: Tensor) -> Tensor {
        let cout = weight.shape[0], cin = weight.shape[1]
        let u = Tensor(shape: [36, cin, cout])
        segserve_winograd43_weights(weight.data, cout, cin, u.data)
        return u
    }

    /// activation(conv(x) + bias + residual); `x` is `[Cin, H, W]` or a `[Cin, B, H, W]` batch,
    /// `residual` shaped like the output.
    static func conv(_ x: Tensor, u: Tensor, bias: Tensor?, residual: Tensor?, activation: Activation, _ ws: Workspace) -> Tensor {
        let cin = u.shape[1], cout = u.shape[2]
        let (_, batch, h, w) = x.maps, plane = h * w
        let out = Tensor(shape: Tensor.mapShape(c: cout, b: batch, h: h, w: w))   // [Cout, (B,) H, W]
        let tileRows = (h + 3) / 4
        let relu: Int32 = if case .relu = activation { 1 } else { 0 }
        let scratchFloats = segserve_winograd43_scratch_floats(cin)
        // One range of tile rows runs on through the batch's maps; each map's part is one call.
        ws.forRange(batch * tileRows) { rows in
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchFloats * 4, alignment: 64)
            defer { scratch.deallocate() }
            var r = rows.lowerBound
            while r < rows.upperBound {
                let i = r / tileRows, end = min(rows.upperBound, (i + 1) * tileRows), offset = i * plane
                segserve_winograd43_avx512(x.data + offset, cin, h, w, batch * plane, u.data, cout, bias?.data,
                                           residual.map { $0.data + offset }, relu, out.data + offset,
                                           r - i * tileRows, end - i * tileRows, scratch.assumingMemoryBound(to: Float.self))
                r = end
            }
        }
        return out
    }
}
