import NNRuntime

/// LDMSeg `GeneralVAESeg`: bit-encoded panoptic maps <-> 4-channel latents.
/// Keys are the official `nn.Sequential` indices (`encoder.0.weight` ... `decoder.10.weight`);
/// stage and upscaler counts are read from them.
public struct MaskAutoencoder: Sendable {
    let encIn: Conv2D
    let encStages: [(Conv2D, Conv2D)]
    let encMid: Conv2D
    let encNorm: GroupNorm
    let encOut: Conv2D
    let decIn: Conv2D
    let upscalers: [(ConvTranspose2D, ChannelLayerNorm)]
    let decNorm: GroupNorm
    let decOut: Conv2D

    public var bits: Int { encIn.inChannels }
    public var slots: Int { decOut.outChannels }
    public var latentChannels: Int { decIn.inChannels }
    /// Pixels per latent cell along each axis.
    public var downFactor: Int { 1 << encStages.count }
    /// Upsampling applied to the decoder logits to reach the input resolution.
    public var interpolationFactor: Int { downFactor >> upscalers.count }

    public init(weights w: WeightStore, groups: Int) throws {
        let enc = w.indices(under: "encoder."), dec = w.indices(under: "decoder.")
        let encConvs = enc.filter { w.shape("encoder.\($0).weight")?.count == 4 }
        let encNorms = enc.filter { w.shape("encoder.\($0).weight")?.count == 1 }
        guard encConvs.count >= 3, encConvs.count % 2 == 1, encNorms.count == 1,
              encNorms[0] == encConvs[encConvs.count - 2] + 2, encNorms[0] + 2 == encConvs.last
        else {
            throw LDMSegError.invalidConfig("mask encoder layout \(enc) is not GeneralVAESeg's (conv, [conv, conv s2]*, conv, GroupNorm, conv)")
        }
        encIn = try w.conv("encoder.\(encConvs[0])")
        let stageConvs = Array(encConvs[1..<(encConvs.count - 2)])
        encStages = try stride(from: 0, to: stageConvs.count, by: 2).map {
            (try w.conv("encoder.\(stageConvs[$0])"), try w.conv("encoder.\(stageConvs[$0 + 1])", stride: 2))
        }
        encMid = try w.conv("encoder.\(encConvs[encConvs.count - 2])")
        encNorm = try w.groupNorm("encoder.\(encNorms[0])", groups: groups, eps: 1e-6)
        encOut = try w.conv("encoder.\(encConvs.last!)")

        guard let first = dec.first, first == 0, dec.count >= 3 else {
            throw LDMSegError.invalidConfig("mask decoder layout \(dec) is not GeneralVAESeg's")
        }
        decIn = try w.conv("decoder.0")
        var ups: [(ConvTranspose2D, ChannelLayerNorm)] = []
        var rest = Array(dec.dropFirst())
        while rest.count >= 2, let s = w.shape("decoder.\(rest[0]).weight"), s.count == 4, s[2] == 2 {
            let t = try ConvTranspose2D(weight: try w.tensor("decoder.\(rest[0]).weight"),
                                        bias: try w.optionalTensor("decoder.\(rest[0]).bias"))
            let ln = ChannelLayerNorm(eps: 1e-6, weight: try w.tensor("decoder.\(rest[1]).weight"),
                                      bias: try w.tensor("decoder.\(rest[1]).bias"))
            ups.append((t, ln))
            rest.removeFirst(2)
        }
        guard rest.count == 2 else { throw LDMSegError.invalidConfig("mask decoder tail \(rest) is not GroupNorm, conv") }
        upscalers = ups
        decNorm = try w.groupNorm("decoder.\(rest[0])", groups: groups, eps: 1e-5)
        decOut = try w.conv("decoder.\(rest[1])")
        guard encOut.outChannels == 2 * latentChannels else {
            throw NNError.shapeMismatch(name: "encoder.\(encConvs.last!).weight", expected: [2 * latentChannels],
                                        actual: [encOut.outChannels])
        }
        try w.checkAllUsed()
    }

    /// Bit-encoded map `[bits, H, W]` in [-1, 1] -> latent mean `[L, H/8, W/8]` (unscaled).
    public func encode(_ bitsMap: Tensor, _ ws: Workspace) -> Tensor {
        var h = encIn(bitsMap, ws, activation: .silu)
        for (conv, down) in encStages {
            h = down(conv(h, ws), ws, activation: .silu)                // [2C, H/2, W/2]
        }
        h = encOut(encNorm(encMid(h, ws), ws, activation: .silu), ws)       // [2L, h, w]
        return h.slice(0..<latentChannels)                              // mean [L, h, w]
    }

    /// Latent `[L, h, w]` (unscaled) -> slot logits `[slots, h*2^u, w*2^u]`, before interpolation.
    public func decode(_ z: Tensor, _ ws: Workspace) -> Tensor {
        var h = decIn(z, ws)                                            // [C, h, w]
        for (up, norm) in upscalers { h = norm(up(h, ws), ws, activation: .silu) } // [C, 2h, 2w]
        return decOut(decNorm(h, ws, activation: .silu), ws)                // [slots, H/2, W/2]
    }
}
