import Foundation
import NNRuntime

/// LDMSeg post-processing: slot logits -> slot per pixel at the output size.
///
/// The logits are resized bilinearly to the output size on the fly, one row at a time, so the
/// full-size 128-channel map is never held. Rules, in order: slot = argmax; pixels whose top
/// softmax probability is below `mask_th` are void; slots with fewer than `count_th` pixels
/// are dropped; slots whose argmax area over their sigmoid >= `mask_th` area is below
/// `overlap_th` are dropped; so is the model's `voidSlot`, if it has one. Dropped slots become
/// void.
///
/// Outputs above `maxWorkPixels` are post-processed at a size within it and the slots
/// upsampled once (nearest), with areas counted in output pixels: the work per slot and pixel
/// is the costly part, and the logits come from a map of a few hundred pixels a side anyway.
public struct PanopticPostProcessor: Sendable {
    public let options: PostProcessingOptions
    public let voidSlot: Int?
    /// The most output pixels post-processed one by one (about a 1024x1024 image).
    public static let maxWorkPixels = 1 << 20

    public init(options: PostProcessingOptions, voidSlot: Int? = nil) {
        self.options = options
        self.voidSlot = voidSlot
    }

    /// `logits` is `[S, h, w]`; returns the slot of each of the `height x width` output pixels,
    /// -1 for void.
    public func slots(logits: Tensor, height: Int, width: Int, _ ws: Workspace) -> [Int32] {
        output(logits: logits, height: height, width: width, ws) { $0 }.values
    }

    /// `slots` as panoptic ids (slot + 1, 0 for void), written straight at the output size: a
    /// large image never holds its slots and its ids at once. With the confidence map.
    public func ids(logits: Tensor, height: Int, width: Int, _ ws: Workspace) -> (ids: [UInt32], confidence: ConfidenceMap) {
        let (ids, confidence) = output(logits: logits, height: height, width: width, ws) { UInt32(bitPattern: $0 &+ 1) }
        return (ids, confidence)
    }

    /// The slots at the output size, each turned into `T` by `value`, and the confidence map.
    private func output<T>(logits: Tensor, height: Int, width: Int, _ ws: Workspace,
                           _ value: (Int32) -> T) -> (values: [T], confidence: ConfidenceMap) {
        guard height * width > Self.maxWorkPixels else {
            let exact = slots(logits: logits, height: height, width: width, areaScale: 1, ws)
            return (exact.slots.map(value), exact.confidence)
        }
        let scale = (Double(Self.maxWorkPixels) / Double(height * width)).squareRoot()
        let h = max(1, Int(Double(height) * scale)), w = max(1, Int(Double(width) * scale))
        let (small, confidence) = slots(logits: logits, height: h, width: w, areaScale: Double(height * width) / Double(h * w), ws)
        let columns = (0..<width).map { $0 * w / width }
        let values = [T](unsafeUninitializedCapacity: height * width) { out, count in
            let base = out.baseAddress!
            ws.forRange(height, minPerThread: 64) { rows in
                for y in rows {
                    let from = (y * h / height) * w, to = y * width
                    for x in 0..<width { (base + to + x).initialize(to: value(small[from + columns[x]])) }
                }
            }
            count = height * width
        }
        return (values, confidence)
    }

    /// `slots` pixel by pixel at any size (the bounded path's reference).
    func exactSlots(logits: Tensor, height: Int, width: Int, _ ws: Workspace) -> [Int32] {
        slots(logits: logits, height: height, width: width, areaScale: 1, ws).slots
    }

    /// `slots` at exactly `height x width`, each pixel standing for `areaScale` output pixels,
    /// with each pixel's top softmax probability.
    private func slots(logits: Tensor, height: Int, width: Int, areaScale: Double, _ ws: Workspace)
        -> (slots: [Int32], confidence: ConfidenceMap) {
        let s = logits.shape[0], h = logits.shape[1], w = logits.shape[2]
        let pixelMajor = logits.reshaped([s, h * w]).transposed(ws)     // [h*w, S]
        let ys = Resize.taps(input: h, output: height), xs = Resize.taps(input: w, output: width)
        let th = options.maskThreshold
        let logitTh = Float(log(Double(th) / (1 - Double(th))))        // sigmoid(l) >= th <=> l >= logit(th)
        var slot = [Int32](repeating: -1, count: height * width)
        var top = [Float](repeating: 0, count: height * width)  // top softmax probability
        var sigmoidRows = [Int32](repeating: 0, count: height * s)
        slot.withUnsafeMutableBufferPointer { slotBuf in
            top.withUnsafeMutableBufferPointer { topBuf in
                sigmoidRows.withUnsafeMutableBufferPointer { sigBuf in
                    let slotOut = slotBuf.baseAddress!, sigOut = sigBuf.baseAddress!, topOut = topBuf.baseAddress!
                    ws.forRange(height, minPerThread: 4) { rows in
                        let v = UnsafeMutablePointer<Float>.allocate(capacity: s)
                        defer { v.deallocate() }
                        for y in rows {
                            let ty = ys[y]
                            let r0 = pixelMajor.data + ty.i0 * w * s, r1 = pixelMajor.data + ty.i1 * w * s
                            let sig = sigOut + y * s
                            for x in 0..<width {
                                let tx = xs[x]
                                let a = r0 + tx.i0 * s, b = r0 + tx.i1 * s, c = r1 + tx.i0 * s, d = r1 + tx.i1 * s
                                var best: Float = -.infinity, arg = 0
                                for k in 0..<s {
                                    let top = a[k] * (1 - tx.f) + b[k] * tx.f
                                    let bottom = c[k] * (1 - tx.f) + d[k] * tx.f
                                    let l = top * (1 - ty.f) + bottom * ty.f
                                    v[k] = l
                                    if l > best { best = l; arg = k }
                                    if l >= logitTh { sig[k] += 1 }
                                }
                                var sum: Float = 0
                                for k in 0..<s { sum += expf(v[k] - best) }
                                topOut[y * width + x] = 1 / sum
                                if 1 / sum >= th { slotOut[y * width + x] = Int32(arg) }
                            }
                        }
                    }
                }
            }
        }
        var area = [Int](repeating: 0, count: s), sigmoidArea = [Int](repeating: 0, count: s)
        for p in slot where p >= 0 { area[Int(p)] += 1 }
        for y in 0..<height { for k in 0..<s { sigmoidArea[k] += Int(sigmoidRows[y * s + k]) } }
        let keep = (0..<s).map { k -> Bool in
            guard k != voidSlot, area[k] > 0, Double(area[k]) * areaScale >= Double(options.countThreshold) else { return false }
            return Float(area[k]) / Float(max(sigmoidArea[k], 1)) >= options.overlapThreshold
        }
        for i in slot.indices where slot[i] >= 0 && !keep[Int(slot[i])] { slot[i] = -1 }
        return (slot, ConfidenceMap(width: width, height: height, values: top))
    }
}
