import NNRuntime

/// diffusers `Attention` used as self-attention: to_q/to_k/to_v, then to_out.0.
struct SelfAttention: Sendable {
    let toQ, toK, toV, toOut: Linear
    let heads: Int

    init(_ w: WeightStore, _ p: String, heads: Int) throws {
        toQ = try w.linear(p + ".to_q")
        toK = try w.linear(p + ".to_k")
        toV = try w.linear(p + ".to_v")
        toOut = try w.linear(p + ".to_out.0")
        guard toQ.outFeatures % heads == 0 else {
            throw LDMSegError.invalidConfig("'\(p)': \(toQ.outFeatures) channels are not divisible into \(heads) heads")
        }
        self.heads = heads
    }

    /// `x` is `[B*N, C]` tokens of `batch` sequences; returns `[B*N, C]`.
    func callAsFunction(_ x: Tensor, batch: Int = 1, _ ws: Workspace) -> Tensor {
        let q = toQ(x, ws), k = toK(x, ws), v = toV(x, ws)                         // [B*N, inner]
        return toOut(Attention.multiHead(q: q, k: k, v: v, heads: heads, batch: batch, ws), ws) // [B*N, C]
    }
}

/// diffusers `BasicTransformerBlock` with the cross-attention removed (LDMSeg):
/// x + attn1(norm1(x)), then + ff(norm3(x)).
struct BasicTransformerBlock: Sendable {
    let norm1, norm3: LayerNorm
    let attn1: SelfAttention
    let ffIn, ffOut: Linear
    let gated: Bool

    init(_ w: WeightStore, _ p: String, heads: Int) throws {
        if w.contains(p + ".attn2.to_q.weight") {
            throw LDMSegError.invalidConfig("'\(p).attn2': cross-attention is not part of LDMSeg; remove attn2/norm2 when exporting")
        }
        norm1 = try w.layerNorm(p + ".norm1", eps: 1e-5)
        attn1 = try SelfAttention(w, p + ".attn1", heads: heads)
        norm3 = try w.layerNorm(p + ".norm3", eps: 1e-5)
        ffIn = try w.linear(p + ".ff.net.0.proj")
        ffOut = try w.linear(p + ".ff.net.2")
        gated = ffIn.outFeatures == 2 * ffOut.inFeatures  // GEGLU; plain GELU otherwise
    }

    /// `x` is `[B*N, C]` tokens of `batch` maps of `map` tokens; with a `merging` ratio the
    /// self-attention runs on merged tokens (`TokenMerge`, planned on `x`).
    func callAsFunction(_ x: Tensor, batch: Int, map: (height: Int, width: Int), merging: Float, _ ws: Workspace) -> Tensor {
        let normed = norm1(x, ws)                             // [B*N, C]
        let h: Tensor
        if merging > 0 {
            let plan = TokenMerge(metric: x, batch: batch, height: map.height, width: map.width, ratio: merging, ws)
            h = plan.unmerge(attn1(plan.merge(normed), batch: batch, ws)) // [B*N, C]
        } else {
            h = attn1(normed, batch: batch, ws)               // [B*N, C]
        }
        h.add(x, ws)
        var f = ffIn(norm3(h, ws), ws)                        // [B*N, 2F] (GEGLU) or [B*N, F]
        if gated { f = geglu(f, ws) } else { Activation.gelu.apply(f.data, count: f.count, ws) }
        let out = ffOut(f, ws)                            // [B*N, C]
        out.add(h, ws)
        return out
    }
}

/// diffusers `Transformer2DModel` (continuous input): GroupNorm, proj_in (1x1 conv or linear),
/// transformer blocks over the H*W tokens, proj_out, residual.
struct Transformer2D: Sendable {
    let norm: GroupNorm
    let projInConv, projOutConv: Conv2D?
    let projInLinear, projOutLinear: Linear?
    let blocks: [BasicTransformerBlock]

    init(_ w: WeightStore, _ p: String, heads: Int, groups: Int) throws {
        norm = try w.groupNorm(p + ".norm", groups: groups, eps: 1e-6)
        let linearProjection = w.shape(p + ".proj_in.weight")?.count == 2
        if linearProjection {
            projInLinear = try w.linear(p + ".proj_in"); projOutLinear = try w.linear(p + ".proj_out")
            projInConv = nil; projOutConv = nil
        } else {
            projInConv = try w.conv(p + ".proj_in"); projOutConv = try w.conv(p + ".proj_out")
            projInLinear = nil; projOutLinear = nil
        }
        let depth = w.indices(under: p + ".transformer_blocks.")
        guard depth == Array(0..<depth.count), !depth.isEmpty else { throw NNError.missingTensor(name: p + ".transformer_blocks.0") }
        blocks = try depth.map { try BasicTransformerBlock(w, p + ".transformer_blocks.\($0)", heads: heads) }
    }

    /// `x` is `[C, H, W]` or a `[C, B, H, W]` batch; returns the same shape. The tokens of
    /// the batch's maps follow one another, so the projections run over all of them at once.
    /// `merging` is the ratio of each map's tokens merged before self-attention (0: none).
    func callAsFunction(_ x: Tensor, merging: Float = 0, _ ws: Workspace) -> Tensor {
        let (c, b, h, w) = x.maps, n = b * h * w
        let normed = norm(x, ws)
        var tokens: Tensor
        if let projInConv {
            let p = projInConv(normed, ws)                                  // [inner, (B,) H, W]
            tokens = p.reshaped([p.shape[0], n]).transposed(ws)             // [B*HW, inner]
        } else {
            tokens = projInLinear!(normed.reshaped([c, n]).transposed(ws), ws) // [B*HW, inner]
        }
        for block in blocks { tokens = block(tokens, batch: b, map: (h, w), merging: merging, ws) }
        let out: Tensor
        if let projOutConv {
            let inner = tokens.shape[1]
            out = projOutConv(tokens.transposed(ws).reshaped(Tensor.mapShape(c: inner, b: b, h: h, w: w)), ws) // [C, (B,) H, W]
        } else {
            out = projOutLinear!(tokens, ws).transposed(ws).reshaped(x.shape)                   // [C, (B,) H, W]
        }
        out.add(x, ws)
        return out
    }
}
