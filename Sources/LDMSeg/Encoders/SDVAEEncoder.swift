import NNRuntime

/// diffusers `Attention` of the VAE mid block: GroupNorm, single-head self-attention over
/// the pixels, residual.
struct VAEAttention: Sendable {
    let norm: GroupNorm
    let attention: SelfAttention

    init(_ w: WeightStore, _ p: String, groups: Int) throws {
        norm = try w.groupNorm(p + ".group_norm", groups: groups, eps: 1e-6)
        attention = try SelfAttention(w, p, heads: 1)
    }

    func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let tokens = norm(x, ws).reshaped([c, h * w]).transposed(ws)          // [HW, C]
        let out = attention(tokens, ws).transposed(ws).reshaped([c, h, w]) // [C, H, W]
        out.add(x, ws)
        return out
    }
}

/// Stable Diffusion VAE encoder (diffusers `AutoencoderKL.encoder` + `quant_conv`), returning
/// the posterior mean.
public struct SDVAEEncoder: ImageEncoder {
    let convIn: Conv2D
    let down: [(resnets: [ResnetBlock2D], downsampler: Downsample2D?)]
    let midResnets: [ResnetBlock2D]
    let midAttention: VAEAttention?
    let normOut: GroupNorm
    let convOut: Conv2D
    let quantConv: Conv2D

    public var latentChannels: Int { quantConv.outChannels / 2 }
    public var downFactor: Int { 1 << down.filter { $0.downsampler != nil }.count }

    public init(weights w: WeightStore, groups: Int) throws {
        let eps: Float = 1e-6
        convIn = try w.conv("encoder.conv_in")
        down = try w.indices(under: "encoder.down_blocks.").map { i in
            let p = "encoder.down_blocks.\(i)"
            return (try w.indices(under: p + ".resnets.").map { try ResnetBlock2D(w, "\(p).resnets.\($0)", groups: groups, eps: eps) },
                    w.contains(p + ".downsamplers.0.conv.weight") ? try Downsample2D(w, p + ".downsamplers.0", asymmetricPadding: true) : nil)
        }
        midResnets = try w.indices(under: "encoder.mid_block.resnets.").map {
            try ResnetBlock2D(w, "encoder.mid_block.resnets.\($0)", groups: groups, eps: eps)
        }
        midAttention = w.contains("encoder.mid_block.attentions.0.to_q.weight")
            ? try VAEAttention(w, "encoder.mid_block.attentions.0", groups: groups) : nil
        normOut = try w.groupNorm("encoder.conv_norm_out", groups: groups, eps: eps)
        convOut = try w.conv("encoder.conv_out")
        quantConv = try w.conv("quant_conv")
        try w.checkAllUsed()
    }

    public func encode(_ pixels: Tensor, _ ws: Workspace) -> Tensor {
        var h = convIn(pixels, ws)                                // [C0, H, W]
        for level in down {
            for r in level.resnets { h = r(h, nil, ws) }
            if let ds = level.downsampler { h = ds(h, ws) }       // [C, H/2, W/2]
        }
        for (j, r) in midResnets.enumerated() {
            h = r(h, nil, ws)
            if j == 0, let midAttention { h = midAttention(h, ws) }
        }
        h = convOut(normOut(h, ws, activation: .silu), ws)            // [2L, h, w]
        let moments = quantConv(h, ws)                            // [2L, h, w]
        return moments.slice(0..<latentChannels)                  // posterior mean [L, h, w]
    }
}
