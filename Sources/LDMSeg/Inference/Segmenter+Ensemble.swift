import NNRuntime

/// Test-time ensembling: several runs (seeds, and the image mirrored) averaged after slot matching.
extension Segmenter {
    /// `segment` over every run of `options.ensemble`: logits averaged after slot matching.
    /// The runs go through the encoder, the UNet and the mask decoder together, up to
    /// `RuntimeOptions.maxBatch` at a time.
    func segmentEnsemble(rgb: [UInt8], width: Int, height: Int, options: SegmentationOptions,
                         progress: Progress, isCancelled: () -> Bool) throws -> PanopticResult {
        let e = options.ensemble
        let images = [rgb] + (e.flip ? [Segmenter.mirrored(rgb: rgb, width: width, height: height)] : [])
        let frames = try prepare(images, width: width, height: height, options: options)
        // Seed-major, each seed's plain run before its mirrored one.
        let plan = (0..<e.seeds).flatMap { k in frames.indices.map { (seed: k, frame: $0) } }
        let runs = plan.map { item in
            var generator = GaussianNoise(seed: options.seed &+ UInt64(item.seed))
            let frame = frames[item.frame]
            return run(noise: generator.tensor(frame.latentShape), frame: frame, known: nil, options: options)
        }
        try denoise(runs, progress: progress, isCancelled: isCancelled)
        // Each run's logits join the sum as they are decoded: at high resolution they are large.
        var sum: Tensor?
        var matched: [[Int32]] = []   // each run's argmax slot per pixel, in the first run's slots
        decodeLogits(runs.map(\.x), frames: plan.map { frames[$0.frame] }) { i, decoded in
            let logits = plan[i].frame == 1 ? Segmenter.mirrored(decoded) : decoded   // [S, h', w']
            let argmax = SlotMatching.argmax(logits)
            guard let acc = sum else {
                sum = logits
                matched.append(argmax)
                return
            }
            let s = logits.shape[0], plane = logits.count / s
            let target = SlotMatching.permutation(reference: SlotMatching.argmax(acc), candidate: argmax, slots: s)
            for c in 0..<s {
                let src = logits.data + c * plane, dst = acc.data + target[c] * plane
                for p in 0..<plane { dst[p] += src[p] }
            }
            matched.append(argmax.map { Int32(target[Int($0)]) })
        }
        let mean = sum!
        let scale = 1 / Float(e.runs)
        for i in 0..<mean.count { mean.data[i] *= scale }
        let agreement = e.runs > 1 ? SegmentScoring.agreement(final: SlotMatching.argmax(mean), runs: matched, slots: mean.shape[0]) : nil
        return segments(logits: mean, frame: frames[0], options: options, runs: e.runs, agreement: agreement)
    }

    /// An interleaved RGB image mirrored left-right.
    static func mirrored(rgb: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = rgb
        for y in 0..<height {
            for x in 0..<width {
                let src = (y * width + width - 1 - x) * 3, dst = (y * width + x) * 3
                out[dst] = rgb[src]; out[dst + 1] = rgb[src + 1]; out[dst + 2] = rgb[src + 2]
            }
        }
        return out
    }

    /// A `[C, H, W]` tensor mirrored along W.
    static func mirrored(_ t: Tensor) -> Tensor {
        let w = t.shape[t.rank - 1], rows = t.count / max(w, 1)
        let out = Tensor(shape: t.shape)
        for r in 0..<rows {
            let src = t.data + r * w, dst = out.data + r * w
            for x in 0..<w { dst[x] = src[w - 1 - x] }
        }
        return out
    }
}
