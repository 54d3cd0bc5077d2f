import Foundation
import NNRuntime

/// HED edge detector (Xie & Tu 2015; PyTorch twin `tools/reference/hed.py`): VGG16's 3x3
/// convolutions with ReLU in five blocks (`block{1..5}.{i}`), 2x2 ceil-mode max pools between
/// them, a 1x1 side output per block (`dsn{1..5}`) upsampled bilinearly to the input size, and a
/// 1x1 `fuse` over the five. Block widths and conv counts are read from the weights.
public struct HEDNetwork: Sendable {
    /// The Caffe BGR mean subtracted from 0...255 pixels, as the network was trained.
    static let bgrMean: [Float] = [104.00699, 116.66877, 122.67892]

    let blocks: [[Conv2D]]
    let sides: [Conv2D]
    let fuse: Conv2D

    public init(weights w: WeightStore) throws {
        let count = (1...).prefix(while: { w.contains("block\($0).0.weight") }).count
        guard count > 0 else { throw NNError.missingTensor(name: "block1.0.weight") }
        var channels = 3
        var blocks: [[Conv2D]] = []
        for b in 1...count {
            let convs = try w.indices(under: "block\(b).").map { try w.conv("block\(b).\($0)") }
            for conv in convs {
                guard conv.inChannels == channels, conv.weight.shape[2] == 3 else {
                    throw NNError.shapeMismatch(name: "block\(b) conv", expected: [-1, channels, 3, 3], actual: conv.weight.shape)
                }
                channels = conv.outChannels
            }
            blocks.append(convs)
        }
        self.blocks = blocks
        sides = try blocks.indices.map { b in
            let side = try w.conv("dsn\(b + 1)")
            guard side.weight.shape == [1, blocks[b].last!.outChannels, 1, 1] else {
                throw NNError.shapeMismatch(name: "dsn\(b + 1).weight", expected: [1, blocks[b].last!.outChannels, 1, 1],
                                            actual: side.weight.shape)
            }
            return side
        }
        fuse = try w.conv("fuse")
        guard fuse.weight.shape == [1, count, 1, 1] else {
            throw NNError.shapeMismatch(name: "fuse.weight", expected: [1, count, 1, 1], actual: fuse.weight.shape)
        }
        try w.checkAllUsed()
    }

    /// RGB in [0, 1] `[3, H, W]` -> BGR on 0...255 minus the Caffe mean.
    static func preprocess(_ rgb: Tensor) -> Tensor {
        let (c, _, h, w) = rgb.maps
        precondition(c == 3 && rgb.rank == 3, "HED input \(rgb.shape)")
        let out = Tensor(shape: [3, h, w]), plane = h * w
        for ch in 0..<3 {
            let src = rgb.data + (2 - ch) * plane, dst = out.data + ch * plane, mean = bgrMean[ch]
            for i in 0..<plane { dst[i] = src[i] * 255 - mean }
        }
        return out
    }

    /// The side outputs and the fused output, as logits at the input size: `[6, H, W]`.
    public func logits(rgb: Tensor, _ ws: Workspace) -> Tensor {
        var x = Self.preprocess(rgb)                                  // [3, H, W]
        let h = x.shape[1], w = x.shape[2], plane = h * w
        let out = Tensor(shape: [sides.count + 1, h, w])
        for (b, convs) in blocks.enumerated() {
            if b > 0 { x = MaxPool2D.pool2x2(x, ws) }                   // [C, ceil(H/2^b), ceil(W/2^b)]
            for conv in convs { x = conv(x, ws, activation: .relu) }    // [C_b, H_b, W_b]
            var side = sides[b](x, ws)                                  // [1, H_b, W_b]
            if b > 0 { side = Resize.bilinear(side, height: h, width: w, ws) }  // [1, H, W]
            (out.data + b * plane).update(from: side.data, count: plane)
        }
        let fused = fuse(out.slice(0..<sides.count), ws)               // [1, H, W]
        (out.data + sides.count * plane).update(from: fused.data, count: plane)
        return out
    }

    /// Channels of `conditioning`: a cell's pixels of the fused map, then one per side output.
    public func conditioningChannels(cell: Int) -> Int { cell * cell + sides.count }

    /// The side and fused outputs as probabilities `[6, H, W]` of RGB `[3, H, W]` in [0, 1].
    public func probabilities(rgb: Tensor, _ ws: Workspace) -> Tensor {
        let probs = logits(rgb: rgb, ws)
        for i in 0..<probs.count { probs[i] = 1 / (1 + expf(-probs[i])) }
        return probs
    }

    /// The denoiser's conditioning at the latent resolution (`hed.conditioning` in the twin), from
    /// `probabilities` `[6, H, W]` (H and W multiples of `cell`): the fused edge probability with
    /// each `cell` x `cell` block's pixels as channels (pixel unshuffle, so the UNet sees where in
    /// a cell an edge runs), then each side output's probability averaged over the block:
    /// `[cell^2 + 5, H/cell, W/cell]`.
    public func conditioning(probabilities probs: Tensor, cell: Int) -> Tensor {
        let h = probs.shape[1], w = probs.shape[2], lh = h / cell, lw = w / cell
        precondition(probs.shape[0] == sides.count + 1 && lh * cell == h && lw * cell == w,
                     "HED conditioning of \(probs.shape) in \(cell)-pixel cells")
        let out = Tensor.zeros([conditioningChannels(cell: cell), lh, lw])
        let fused = probs.data + sides.count * h * w, cells = lh * lw
        for dy in 0..<cell {
            for dx in 0..<cell {
                let dst = out.data + (dy * cell + dx) * cells
                for y in 0..<lh { for x in 0..<lw { dst[y * lw + x] = fused[(y * cell + dy) * w + x * cell + dx] } }
            }
        }
        let scale = 1 / Float(cell * cell)
        for b in 0..<sides.count {
            let src = probs.data + b * h * w, dst = out.data + (cell * cell + b) * cells
            for y in 0..<h { for x in 0..<w { dst[(y / cell) * lw + x / cell] += src[y * w + x] * scale } }
        }
        return out
    }

}
