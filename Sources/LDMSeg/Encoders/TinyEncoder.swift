import NNRuntime

/// TAESD-family `Block`: relu(conv(x') + skip(x')) with x' = x + pool(x) when a pool branch
/// (1x1 conv, GroupNorm(4), ReLU, 1x1 conv) is present.
struct TinyBlock: Sendable {
    let conv0, conv2, conv4: Conv2D
    let skip: Conv2D?
    let pool: (Conv2D, GroupNorm, Conv2D)?

    init(_ w: WeightStore, _ p: String) throws {
        conv0 = try w.conv(p + ".conv.0"); conv2 = try w.conv(p + ".conv.2"); conv4 = try w.conv(p + ".conv.4")
        skip = w.contains(p + ".skip.weight") ? try w.conv(p + ".skip", bias: false) : nil
        if w.contains(p + ".pool.0.weight") {
            pool = (try w.conv(p + ".pool.0", bias: false), try w.groupNorm(p + ".pool.1", groups: 4, eps: 1e-5),
                    try w.conv(p + ".pool.3", bias: false))
        } else {
            pool = nil
        }
    }

    func callAsFunction(_ input: Tensor, _ ws: Workspace) -> Tensor {
        var x = input
        if let (a, norm, b) = pool {
            let p = b(norm(a(x, ws), ws, activation: .relu), ws)     // [C, H, W]
            p.add(x, ws)
            x = p
        }
        let h0 = conv0(x, ws, activation: .relu)
        let h1 = conv2(h0, ws, activation: .relu)
        // relu(conv4(h1) + skip), the sum and ReLU fused into the conv's output pass.
        return conv4(h1, ws, residual: skip.map { $0(x, ws) } ?? x, activation: .relu)   // [C, H, W]
    }
}

/// TAESD-family encoder (`nn.Sequential` keys `0.weight`, `1.conv.0.weight`, ...): convs and
/// Blocks in state_dict order; bias-free 3x3 convs are the stride-2 downsamplers.
public struct TinyEncoder: ImageEncoder {
    enum Layer: Sendable { case conv(Conv2D), block(TinyBlock) }
    let layers: [Layer]
    public let latentChannels: Int
    public let downFactor: Int

    public init(weights w: WeightStore) throws {
        let idx = w.indices(under: "")
        guard !idx.isEmpty, idx == Array(0..<idx.count) else {
            throw LDMSegError.invalidConfig("TAESD encoder layers must be numbered 0..<n, found \(idx)")
        }
        var factor = 1
        layers = try idx.map { i in
            if w.contains("\(i).weight") {
                let downsample = !w.contains("\(i).bias")
                if downsample { factor *= 2 }
                return .conv(try w.conv("\(i)", stride: downsample ? 2 : 1, bias: !downsample))
            }
            return .block(try TinyBlock(w, "\(i)"))
        }
        guard case let .conv(last)? = layers.last else { throw NNError.missingTensor(name: "\(idx.count - 1).weight") }
        latentChannels = last.outChannels
        downFactor = factor
        try w.checkAllUsed()
    }

    public func encode(_ pixels: Tensor, _ ws: Workspace) -> Tensor {
        var h = pixels                                           // [3, H, W], values in [0, 1]
        for layer in layers {
            switch layer {
            case let .conv(c): h = c(h, ws)
            case let .block(b): h = b(h, ws)
            }
        }
        return h                                                 // [L, H/8, W/8]
    }

    /// Every op here takes `[C, B, H, W]` batches as they come.
    public func encode(batch pixels: Tensor, _ ws: Workspace) -> Tensor { encode(pixels, ws) }
}
