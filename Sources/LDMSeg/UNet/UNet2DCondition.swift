import Foundation
import NNRuntime

/// Hyper-parameters of the UNet that tensor shapes do not tell.
public struct UNetConfig: Sendable, Codable, Equatable {
    /// diffusers `attention_head_dim`: the number of heads, one value or one per down block.
    public var attentionHeadDim: [Int] = [8]
    public var normNumGroups: Int = 32
    public var normEps: Float = 1e-5
    public var flipSinToCos: Bool = true
    public var freqShift: Float = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case attentionHeadDim = "attention_head_dim", normNumGroups = "norm_num_groups", normEps = "norm_eps"
        case flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let one = try? c.decode(Int.self, forKey: .attentionHeadDim) {
            attentionHeadDim = [one]
        } else if let many = try c.decodeIfPresent([Int].self, forKey: .attentionHeadDim) {
            attentionHeadDim = many
        }
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? normNumGroups
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? normEps
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? flipSinToCos
        freqShift = try c.decodeIfPresent(Float.self, forKey: .freqShift) ?? freqShift
    }

    func heads(downBlock i: Int) -> Int { attentionHeadDim.count == 1 ? attentionHeadDim[0] : attentionHeadDim[i] }
}

/// One level of the UNet: resnets, optional transformers, optional resampler.
struct UNetLevel: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2D]
    let downsampler: Downsample2D?
    let upsampler: Upsample2D?
}

/// diffusers `UNet2DConditionModel` in the SD v1 family with cross-attention removed (LDMSeg).
/// Structure (block count, channels, layers, attention placement) is read from the weights.
public struct UNet2DCondition: Sendable {
    public let config: UNetConfig
    let convIn: Conv2D
    let timeLinear1, timeLinear2: Linear
    let down: [UNetLevel]
    let midResnets: [ResnetBlock2D]
    let midAttentions: [Transformer2D]
    let up: [UNetLevel]
    let normOut: GroupNorm
    let convOut: Conv2D

    public var inChannels: Int { convIn.inChannels }
    public var outChannels: Int { convOut.outChannels }
    public var timeProjDim: Int { timeLinear1.inFeatures }
    /// Total downsampling factor: inputs must be multiples of it.
    public var downFactor: Int { 1 << down.filter { $0.downsampler != nil }.count }

    public init(weights w: WeightStore, config: UNetConfig) throws {
        self.config = config
        let g = config.normNumGroups, eps = config.normEps
        convIn = try w.conv("conv_in")
        timeLinear1 = try w.linear("time_embedding.linear_1")
        timeLinear2 = try w.linear("time_embedding.linear_2")
        let downIdx = w.indices(under: "down_blocks."), upIdx = w.indices(under: "up_blocks.")
        guard !downIdx.isEmpty, downIdx == Array(0..<downIdx.count), upIdx == downIdx else {
            throw LDMSegError.invalidConfig("UNet down blocks \(downIdx) and up blocks \(upIdx) must both be 0..<n")
        }
        if config.attentionHeadDim.count != 1 && config.attentionHeadDim.count != downIdx.count {
            throw LDMSegError.invalidConfig("attention_head_dim has \(config.attentionHeadDim.count) entries for \(downIdx.count) blocks")
        }
        let n = downIdx.count
        down = try downIdx.map { i in
            let p = "down_blocks.\(i)"
            let heads = config.heads(downBlock: i)
            return UNetLevel(
                resnets: try w.indices(under: p + ".resnets.").map { try ResnetBlock2D(w, "\(p).resnets.\($0)", groups: g, eps: eps) },
                attentions: try w.indices(under: p + ".attentions.").map { try Transformer2D(w, "\(p).attentions.\($0)", heads: heads, groups: g) },
                downsampler: w.contains(p + ".downsamplers.0.conv.weight") ? try Downsample2D(w, p + ".downsamplers.0", asymmetricPadding: false) : nil,
                upsampler: nil)
        }
        midResnets = try w.indices(under: "mid_block.resnets.").map { try ResnetBlock2D(w, "mid_block.resnets.\($0)", groups: g, eps: eps) }
        midAttentions = try w.indices(under: "mid_block.attentions.").map {
            try Transformer2D(w, "mid_block.attentions.\($0)", heads: config.heads(downBlock: n - 1), groups: g)
        }
        up = try upIdx.map { i in
            let p = "up_blocks.\(i)"
            // Up block i mirrors down block n-1-i, heads included (diffusers reverses the list).
            let heads = config.heads(downBlock: n - 1 - i)
            return UNetLevel(
                resnets: try w.indices(under: p + ".resnets.").map { try ResnetBlock2D(w, "\(p).resnets.\($0)", groups: g, eps: eps) },
                attentions: try w.indices(under: p + ".attentions.").map { try Transformer2D(w, "\(p).attentions.\($0)", heads: heads, groups: g) },
                downsampler: nil,
                upsampler: w.contains(p + ".upsamplers.0.conv.weight") ? try Upsample2D(w, p + ".upsamplers.0") : nil)
        }
        normOut = try w.groupNorm("conv_norm_out", groups: g, eps: eps)
        convOut = try w.conv("conv_out")
        for level in down + up where !level.attentions.isEmpty && level.attentions.count != level.resnets.count {
            throw LDMSegError.invalidConfig("UNet block has \(level.resnets.count) resnets but \(level.attentions.count) attentions")
        }
        // Every skip the down path leaves is taken back by one up resnet.
        let skips = 1 + down.reduce(0) { $0 + $1.resnets.count + ($1.downsampler == nil ? 0 : 1) }
        let upResnets = up.reduce(0) { $0 + $1.resnets.count }
        guard down[0].resnets.count >= 1, upResnets == skips else {
            throw LDMSegError.invalidConfig("UNet needs a resnet in its first down block and an up resnet per skip; it has \(upResnets) for \(skips)")
        }
        try w.checkAllUsed()
    }

    /// Predicts epsilon for `sample` `[Cin, H, W]` at `timestep`; returns `[Cout, H, W]`.
    public func callAsFunction(_ sample: Tensor, timestep: Float, _ ws: Workspace) -> Tensor {
        callAsFunction(sample, timesteps: [timestep], ws)
    }

    /// Predicts epsilon for a `[Cin, B, H, W]` batch, map i at `timesteps[i]` (maps of one
    /// batch may be at different steps); returns `[Cout, B, H, W]`. A batch of one is `[Cin, H, W]`.
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], _ ws: Workspace) -> Tensor {
        pass(sample, timesteps: timesteps, reusing: nil, ws).eps
    }

    /// One pass, full or shallow (DeepCache, Ma et al. 2024, its shallowest branch). A full pass
    /// (`deep` nil) also returns the feature entering the up path where the first down resnet's
    /// skip is taken back: everything deeper has been folded into it. A shallow pass given that
    /// feature from an earlier step runs only `conv_in`, the first down resnet and the last up
    /// block's last two resnets (with their transformers), and returns the same feature.
    /// `deep` is `[C, B, H, W]` as the batch (`[C, H, W]` for one map). `tokenMerging` merges
    /// that ratio of the tokens before self-attention in the transformers of the highest
    /// resolution that has any (ToMe for SD: `TokenMerge`), where attention costs the most: the
    /// sample's own in SD's UNet.
    public func pass(_ sample: Tensor, timesteps: [Float], reusing deep: Tensor?, tokenMerging: Float = 0,
                     _ ws: Workspace) -> (eps: Tensor, deep: Tensor) {
        precondition(timesteps.count == sample.maps.b, "\(timesteps.count) timesteps for \(sample.shape)")
        let embeddings = timesteps.map {
            timestepEmbedding($0, dim: timeProjDim, flipSinToCos: config.flipSinToCos, freqShift: config.freqShift)
        }
        let tProj = embeddings.count == 1 ? embeddings[0] : Tensor.concat(embeddings).reshaped([embeddings.count, timeProjDim])
        let hidden = timeLinear1(tProj, ws)                                  // [T] or [B, T]
        Activation.silu.apply(hidden.data, count: hidden.count, ws)
        let emb = timeLinear2(hidden, ws)                                 // [T] or [B, T]
        // Every resnet applies SiLU to the embedding before projecting it: do it once.
        Activation.silu.apply(emb.data, count: emb.count, ws)

        // The first down level with transformers; each downsampler before it halves the map, rounding up.
        var merged = (height: sample.maps.h, width: sample.maps.w)
        for level in down.prefix(while: { $0.attentions.isEmpty }) where level.downsampler != nil {
            merged = ((merged.height + 1) / 2, (merged.width + 1) / 2)
        }
        /// Transformer j of `level` on `h`, merging tokens at the highest resolution with transformers.
        func attend(_ level: UNetLevel, _ j: Int, _ h: Tensor) -> Tensor {
            guard !level.attentions.isEmpty else { return h }
            let top = h.maps.h == merged.height && h.maps.w == merged.width
            return level.attentions[j](h, merging: top ? tokenMerging : 0, ws)
        }
        var h = convIn(sample, ws)                                       // [C0, (B,) H, W]
        var skips = [h]
        let shallow = deep != nil, shallowSkips = 2  // conv_in's output and the first down resnet's
        downPath: for level in down {
            for (j, resnet) in level.resnets.enumerated() {
                h = attend(level, j, resnet(h, emb, ws))
                skips.append(h)
                if shallow && skips.count == shallowSkips { break downPath }
            }
            if let ds = level.downsampler {
                h = ds(h, ws)                                            // [C, H/2, W/2]
                skips.append(h)
                if shallow && skips.count == shallowSkips { break downPath }
            }
        }
        if !shallow {
            for (j, resnet) in midResnets.enumerated() {
                h = resnet(h, emb, ws)
                if j < midAttentions.count { h = midAttentions[j](h, ws) }
            }
        }
        // Up resnets take the skips back last first, so the shallow skips go to the last two.
        let cachePoint = up.reduce(0) { $0 + $1.resnets.count } - shallowSkips
        var cached = deep, index = 0
        for level in up {
            for (j, resnet) in level.resnets.enumerated() {
                defer { index += 1 }
                if index == cachePoint {
                    if let cached { h = cached } else { cached = h }     // [C, (B,) H, W]
                } else if index < cachePoint && shallow {
                    continue
                }
                h = attend(level, j, resnet(Tensor.concat([h, skips.removeLast()]), emb, ws)) // cat on channels
            }
            if let us = level.upsampler, let next = skips.last, !shallow || index > cachePoint {
                h = us(h, height: next.maps.h, width: next.maps.w, ws)   // [C, (B,) 2H, 2W]
            }
        }
        h = normOut(h, ws, activation: .silu)
        return (convOut(h, ws), cached!)                                 // [Cout, H, W]
    }
}
