import NNRuntime

/// diffusers `ResnetBlock2D` (time-embedding shift "default", output scale 1).
struct ResnetBlock2D: Sendable {
    let norm1: GroupNorm
    let conv1: Conv2D
    let timeEmbProj: Linear?
    let norm2: GroupNorm
    let conv2: Conv2D
    let shortcut: Conv2D?

    init(_ w: WeightStore, _ p: String, groups: Int, eps: Float) throws {
        norm1 = try w.groupNorm(p + ".norm1", groups: groups, eps: eps)
        conv1 = try w.conv(p + ".conv1")
        timeEmbProj = w.contains(p + ".time_emb_proj.weight") ? try w.linear(p + ".time_emb_proj") : nil
        norm2 = try w.groupNorm(p + ".norm2", groups: groups, eps: eps)
        conv2 = try w.conv(p + ".conv2")
        shortcut = w.contains(p + ".conv_shortcut.weight") ? try w.conv(p + ".conv_shortcut") : nil
        if shortcut == nil && conv1.inChannels != conv2.outChannels {
            throw NNError.missingTensor(name: p + ".conv_shortcut.weight")
        }
    }

    /// `x` is `[Cin, H, W]` (or `[Cin, B, H, W]`), `temb` the SiLU-activated time embedding
    /// `[T]` (`[B, T]`, one per map), nil without one.
    func callAsFunction(_ x: Tensor, _ temb: Tensor?, _ ws: Workspace) -> Tensor {
        var h = norm1(x, ws, activation: .silu)                   // [Cin, H, W]
        h = conv1(h, ws)                                      // [Cout, H, W]
        if let timeEmbProj, let temb {
            h.addChannelBias(timeEmbProj(temb, ws))               // + proj(temb)[:, (b,) None, None]
        }
        h = norm2(h, ws, activation: .silu)
        h = conv2(h, ws)                                      // [Cout, H, W]
        let skip = shortcut.map { $0(x, ws) } ?? x
        h.add(skip, ws)
        return h
    }
}
