/// Depthwise 3x3 convolution, `torch.nn.Conv2d(C, C, 3, stride, padding=1, groups=C)`, with the
/// bias and activation applied in the same pass. Nine multiply-adds per output against one
/// read and one write, so it is bound by memory, not arithmetic: each channel's plane is
/// padded once into per-thread scratch and streamed row by row with no border branches.
public struct DepthwiseConv2D: Sendable {
    public let weight: Tensor  // [C, 1, 3, 3]
    public let bias: Tensor?   // [C]
    public let stride: Int

    public init(weight: Tensor, bias: Tensor?, stride: Int) {
        precondition(weight.rank == 4 && weight.shape[1] == 1 && weight.shape[2] == 3 && weight.shape[3] == 3,
                     "depthwise weight must be [C, 1, 3, 3], got \(weight.shape)")
        precondition(stride == 1 || stride == 2, "depthwise stride \(stride)")
        precondition(bias.map { $0.shape == [weight.shape[0]] } ?? true, "depthwise bias \(bias?.shape ?? [])")
        self.weight = weight
        self.bias = bias
        self.stride = stride
    }

    public var channels: Int { weight.shape[0] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        ((height - 1) / stride + 1, (width - 1) / stride + 1)
    }

    /// `x` is `[C, H, W]`; returns activation(conv(x) + bias) `[C, Ho, Wo]`.
    public func callAsFunction(_ x: Tensor, _ ws: Workspace, activation: Activation = .identity) -> Tensor {
        precondition(x.rank == 3 && x.shape[0] == channels, "depthwise input \(x.shape) for weight \(weight.shape)")
        let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (ho, wo) = outputSize(height: h, width: w)
        let out = Tensor(shape: [c, ho, wo])
        let pw = w + 2, stride = self.stride
        ws.forRange(c, minPerThread: 4) { channels in
            // Zero border of one pixel: the padded plane is (H + 2) x (W + 2).
            let plane = UnsafeMutablePointer<Float>.allocate(capacity: (h + 2) * pw)
            defer { plane.deallocate() }
            plane.initialize(repeating: 0, count: (h + 2) * pw)
            for ch in channels {
                let src = x.data + ch * h * w
                for y in 0..<h { (plane + (y + 1) * pw + 1).update(from: src + y * w, count: w) }
                let k = weight.data + ch * 9
                let (k0, k1, k2, k3, k4, k5, k6, k7, k8) = (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8])
                let b = bias?.data[ch] ?? 0
                let dst = out.data + ch * ho * wo
                for oy in 0..<ho {
                    let r0 = plane + oy * stride * pw, r1 = r0 + pw, r2 = r1 + pw
                    let o = dst + oy * wo
                    if stride == 1 {
                        for ox in 0..<wo {
                            o[ox] = b + k0 * r0[ox] + k1 * r0[ox + 1] + k2 * r0[ox + 2]
                                + k3 * r1[ox] + k4 * r1[ox + 1] + k5 * r1[ox + 2]
                                + k6 * r2[ox] + k7 * r2[ox + 1] + k8 * r2[ox + 2]
                        }
                    } else {
                        for ox in 0..<wo {
                            let i = 2 * ox
                            o[ox] = b + k0 * r0[i] + k1 * r0[i + 1] + k2 * r0[i + 2]
                                + k3 * r1[i] + k4 * r1[i + 1] + k5 * r1[i + 2]
                                + k6 * r2[i] + k7 * r2[i + 1] + k8 * r2[i + 2]
                        }
                    }
                    activation.applySerial(o, count: wo)
                }
            }
        }
        return out
    }
}
