import NNRuntime

/// torchvision `InvertedResidual` with its BatchNorms folded into the convs: a 1x1 expansion
/// (absent when the expansion factor is 1), a depthwise 3x3, both ReLU6, then a linear 1x1
/// projection, plus the input when stride and channels allow.
struct InvertedResidual: Sendable {
    let expand: Conv2D?
    let depthwise: DepthwiseConv2D
    let project: Conv2D
    let residual: Bool

    init(_ w: WeightStore, _ p: String, stride: Int) throws {
        // Expanded blocks are conv.0.0 (1x1), conv.1.0 (3x3 depthwise), conv.2 (1x1); others conv.0.0, conv.1.
        if w.contains(p + ".conv.2.weight") {
            expand = try w.conv(p + ".conv.0.0")
            depthwise = try w.depthwise(p + ".conv.1.0", stride: stride)
            project = try w.conv(p + ".conv.2")
        } else {
            expand = nil
            depthwise = try w.depthwise(p + ".conv.0.0", stride: stride)
            project = try w.conv(p + ".conv.1")
        }
        let (hidden, inChannels) = (depthwise.channels, expand?.inChannels ?? depthwise.channels)
        guard project.inChannels == hidden, (expand?.outChannels ?? hidden) == hidden else {
            throw NNError.shapeMismatch(name: p + ".conv", expected: [hidden], actual: [expand?.outChannels ?? hidden, project.inChannels])
        }
        residual = stride == 1 && inChannels == project.outChannels
    }

    func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let hidden = expand.map { $0(x, ws, activation: .relu6) } ?? x       // [tC, H, W]
        let d = depthwise(hidden, ws, activation: .relu6)                         // [tC, H/s, W/s]
        return project(d, ws, residual: residual ? x : nil, activation: .identity)  // [C', H/s, W/s]
    }
}

/// MobileNetV2 (ImageNet backbone, `features.0` to `features.17`) whose stride-8, -16 and -32
/// maps are projected (`fuse.s8/s16/s32`, 1x1), upsampled bilinearly to stride 8, summed, and
/// turned into the latent by `fuse.out` (3x3) after a ReLU: a semantic prior for the UNet at
/// the mask latent's resolution. Pixels arrive in [0, 1] and are normalised with
/// `normalize.mean` / `normalize.std` (ImageNet's). tools/reference/mobilenet_v2.py is the
/// PyTorch twin and writes these weights.
public struct MobileNetV2Encoder: ImageEncoder {
    /// Stride of each block `features.1` ... `features.17` (the paper's stage table).
    static let blockStrides = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    /// Blocks whose outputs are the stride-8, -16 and -32 maps.
    static let taps = [6, 13, 17]

    let mean, std: [Float]
    let stem: Conv2D
    let blocks: [InvertedResidual]
    let fuse: (s8: Conv2D, s16: Conv2D, s32: Conv2D, out: Conv2D)
    public var latentChannels: Int { fuse.out.outChannels }
    public var downFactor: Int { 8 }

    public init(weights w: WeightStore) throws {
        mean = try w.tensor("normalize.mean", shape: [3]).array
        std = try w.tensor("normalize.std", shape: [3]).array
        guard std.allSatisfy({ $0 > 0 }) else { throw LDMSegError.invalidConfig("normalize.std must be positive, got \(std)") }
        stem = try w.conv("features.0.0", stride: 2)
        blocks = try Self.blockStrides.enumerated().map { i, stride in try InvertedResidual(w, "features.\(i + 1)", stride: stride) }
        fuse = (try w.conv("fuse.s8"), try w.conv("fuse.s16"), try w.conv("fuse.s32"), try w.conv("fuse.out"))
        let tapChannels = Self.taps.map { blocks[$0 - 1].project.outChannels }
        guard [fuse.s8.inChannels, fuse.s16.inChannels, fuse.s32.inChannels] == tapChannels,
              fuse.s16.outChannels == fuse.s8.outChannels, fuse.s32.outChannels == fuse.s8.outChannels,
              fuse.out.inChannels == fuse.s8.outChannels else {
            throw NNError.shapeMismatch(name: "fuse", expected: tapChannels, actual: [fuse.s8.inChannels, fuse.s16.inChannels, fuse.s32.inChannels])
        }
        try w.checkAllUsed()
    }

    public func encode(_ pixels: Tensor, _ ws: Workspace) -> Tensor {
        let (h, w) = (pixels.shape[1], pixels.shape[2])
        let x = pixels.copy()                                        // [3, H, W]
        for c in 0..<3 {
            let p = x.data + c * h * w, scale = 1 / std[c], shift = -mean[c] / std[c]
            for i in 0..<(h * w) { p[i] = p[i] * scale + shift }
        }
        var f = stem(x, ws, activation: .relu6)                      // [32, H/2, W/2]
        var taps: [Tensor] = []
        for (i, block) in blocks.enumerated() {
            f = block(f, ws)
            if Self.taps.contains(i + 1) { taps.append(f) }          // strides 8, 16, 32
        }
        let p = fuse.s8(taps[0], ws)                                 // [F, H/8, W/8]
        let (lh, lw) = (p.shape[1], p.shape[2])
        p.add(Resize.bilinear(fuse.s16(taps[1], ws), height: lh, width: lw, ws), ws)
        p.add(Resize.bilinear(fuse.s32(taps[2], ws), height: lh, width: lw, ws), ws)
        Activation.relu.apply(p.data, count: p.count, ws)
        return fuse.out(p, ws)                                       // [L, H/8, W/8]
    }
}
