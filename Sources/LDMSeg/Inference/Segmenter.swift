import Foundation
import NNRuntime

/// Runs segmentation and inpainting with a shared model and this worker's own scratch memory.
/// Not thread-safe: give each worker its own `Segmenter`.
public final class Segmenter {
    public let model: LDMSegModel
    public var maxPixels: Int
    /// This worker's scratch memory and runtime options.
    let ws: Workspace
    /// Merges this worker's DDIM steps with other workers' (nil: each step its own pass).
    let batcher: StepBatcher?

    /// Reports `(completedSteps, totalSteps)` after each DDIM step.
    public typealias Progress = (Int, Int) -> Void

    /// `runtime` sets this worker's threads and kernels (default: the calling thread only);
    /// workers that share `batcher` (on the same model) share UNet passes.
    public init(model: LDMSegModel, maxPixels: Int = 40_000_000, runtime: RuntimeOptions = RuntimeOptions(),
                batcher: StepBatcher? = nil) {
        self.model = model
        self.maxPixels = maxPixels
        self.batcher = batcher
        ws = Workspace(options: runtime)
    }

    /// Panoptic segmentation of an RGB8 image (`rgb.count == width * height * 3`). With an
    /// `options.ensemble` of more than one run, the runs' aligned slot logits are averaged
    /// (see `Ensemble`) and `progress` counts the steps of every run.
    public func segment(rgb: [UInt8], width: Int, height: Int, options: SegmentationOptions,
                        progress: Progress = { _, _ in }, isCancelled: () -> Bool = { false }) throws -> PanopticResult {
        if !options.ensemble.isSingleRun {
            return try segmentEnsemble(rgb: rgb, width: width, height: height, options: options,
                                       progress: progress, isCancelled: isCancelled)
        }
        return try segment(rgb: rgb, width: width, height: height, options: options, noise: nil,
                           progress: progress, isCancelled: isCancelled).result
    }

    /// `segment` with the initial noise given (nil: drawn from `options.seed`); also returns
    /// the image latent and the final mask latent.
    func segment(rgb: [UInt8], width: Int, height: Int, options: SegmentationOptions, noise: Tensor?,
                 progress: Progress = { _, _ in }, isCancelled: () -> Bool = { false })
        throws -> (result: PanopticResult, imageLatent: Tensor, latent: Tensor) {
        let frame = try prepare(rgb: rgb, width: width, height: height, options: options)
        var generator = GaussianNoise(seed: options.seed)
        let run = self.run(noise: noise?.copy() ?? generator.tensor(frame.latentShape), frame: frame, known: nil, options: options)
        try denoise([run], progress: progress, isCancelled: isCancelled)
        let latent = run.x
        return (segments(logits: decodeLogits(latent, frame: frame), frame: frame, options: options), frame.imageLatent, latent)
    }

    /// Completes a partial panoptic map. `partial` holds an id per pixel (0 = void); `known`
    /// marks the pixels to keep (default: the non-void ones). Known pixels keep their ids.
    /// Ensembling is not supported here: `options.ensemble` must be a single run
    /// (`invalidOption` otherwise), because known slots are pinned by the partial map and a
    /// mirrored run would need the map mirrored and its slots kept apart from new ones.
    public func inpaint(rgb: [UInt8], width: Int, height: Int, partial: [UInt32], known: [Bool]? = nil,
                        options: SegmentationOptions, progress: Progress = { _, _ in },
                        isCancelled: () -> Bool = { false }) throws -> PanopticResult {
        try inpaint(rgb: rgb, width: width, height: height, partial: partial, known: known, options: options,
                    noise: nil, progress: progress, isCancelled: isCancelled)
    }

    /// `inpaint` with the initial and known-cell noise given (nil: both drawn from the seed).
    func inpaint(rgb: [UInt8], width: Int, height: Int, partial: [UInt32], known: [Bool]?,
                 options: SegmentationOptions, noise: (initial: Tensor, known: Tensor)?,
                 progress: Progress = { _, _ in }, isCancelled: () -> Bool = { false }) throws -> PanopticResult {
        guard partial.count == width * height, known.map({ $0.count == width * height }) ?? true else {
            throw LDMSegError.invalidMask(reason: "mask is \(partial.count) pixels, image \(width)x\(height)")
        }
        guard options.ensemble.isSingleRun else {
            throw LDMSegError.invalidOption(name: "ensemble", value: "seeds \(options.ensemble.seeds), flip \(options.ensemble.flip)",
                                            reason: "ensembling applies to segmentation only; inpainting takes a single run")
        }
        let knownMask: [Bool] = known ?? partial.map { $0 != 0 }
        let remap = try SlotRemapping(ids: partial, known: knownMask, capacity: model.maskAutoencoder.slots - 1)
        let frame = try prepare(rgb: rgb, width: width, height: height, options: options)
        let (zKnown, cells) = encodeKnown(remap.slots(partial, known: knownMask), knownMask, frame: frame)
        var generator = GaussianNoise(seed: options.seed)
        let x = noise?.initial.copy() ?? generator.tensor(frame.latentShape)
        let knownNoise = noise?.known ?? generator.tensor(frame.latentShape)
        let run = self.run(noise: x, frame: frame, known: (zKnown, cells, knownNoise), options: options)
        try denoise([run], progress: progress, isCancelled: isCancelled)
        let (slotIDs, confidence) = postProcessor(options).ids(logits: decodeLogits(run.x, frame: frame), height: height, width: width, ws)
        var ids = remap.ids(forSlots: slotIDs.map { Int32(bitPattern: $0) &- 1 })
        for i in ids.indices where knownMask[i] { ids[i] = partial[i] }
        var result = PanopticResult(width: width, height: height, ids: ids)
        result.evidence = ScoreEvidence(confidence: confidence)
        result.score(calibration: model.config.scoring)
        // The client's own segments stay, whatever their scores.
        return result.keeping(minScore: options.postProcessing.minScore, except: Set(remap.knownIDs))
    }

    // MARK: - Stages

    /// The image resized to the working resolution, padded, and encoded.
    struct Frame {
        let width, height: Int          // original size
        let workWidth, workHeight: Int  // after resizing, before padding
        let padWidth, padHeight: Int
        var imageLatent: Tensor          // [Li (+ HED maps), padH/8, padW/8]: the UNet's conditioning
        /// HED's fused edge probability at the working size (`workHeight x workWidth`), with edges.
        var edges: [Float]? = nil
        let latentChannels: Int
        var latentShape: [Int] { [latentChannels, imageLatent.shape[1], imageLatent.shape[2]] }
    }

    func prepare(rgb: [UInt8], width: Int, height: Int, options: SegmentationOptions) throws -> Frame {
        try prepare([rgb], width: width, height: height, options: options)[0]
    }

    /// Frames of images of one size, encoded as batches of up to `RuntimeOptions.maxBatch`.
    func prepare(_ images: [[UInt8]], width: Int, height: Int, options: SegmentationOptions) throws -> [Frame] {
        guard width > 0, height > 0 else { throw LDMSegError.invalidImage(width: width, height: height, reason: "empty image") }
        guard width * height <= maxPixels else { throw LDMSegError.tooManyPixels(width: width, height: height, limit: maxPixels) }
        for rgb in images where rgb.count != width * height * 3 {
            throw LDMSegError.invalidImage(width: width, height: height, reason: "\(rgb.count) bytes; expected \(width * height * 3) RGB")
        }
        try options.validate(trainSteps: model.scheduler.trainSteps)
        ws.options.precision = options.precision
        let pre = model.preprocessing
        let (wh, ww) = Segmenter.workingSize(height: height, width: width, resolution: options.resolution, mode: pre.resize)
        let m = model.sizeMultiple
        let ph = (wh + m - 1) / m * m, pw = (ww + m - 1) / m * m
        let range = model.config.imageEncoder.inputRange
        let (lo, span) = (range[0], range[1] - range[0])

        /// The resized image, zero-padded, in [0, 1].
        func padded(_ rgb: [UInt8]) -> Tensor {
            /// The image as a float tensor `[3, H, W]` in [0, 1].
            func pixels() -> Tensor {
                let pixels = Tensor(shape: [3, height, width])
                let n = width * height
                for i in 0..<n { for c in 0..<3 { pixels.data[c * n + i] = Float(rgb[i * 3 + c]) / 255 } }
                return pixels
            }
            let resized: Tensor                                             // [3, h', w']
            if wh == height && ww == width {
                resized = pixels()
            } else {
                switch pre.interpolation {
                // Read from the bytes: a large photo's full-size float copy is never made.
                case .bilinear: resized = Resize.bilinear(rgb: rgb, width: width, height: height, toHeight: wh, width: ww, ws)
                case .bicubic: resized = Resize.antialiased(pixels(), height: wh, width: ww, levels: 255, ws)
                }
            }
            let out = Tensor.zeros([3, ph, pw])                             // zero padding in [0, 1] space
            for c in 0..<3 {
                for y in 0..<wh {
                    (out.data + (c * ph + y) * pw).update(from: resized.data + (c * wh + y) * ww, count: ww)
                }
            }
            return out
        }
        // Budgeted by the encoder's widest maps (64 channels at full size in TAESD).
        return batches(of: images.count, floatsEach: 64 * ph * pw).flatMap { part in
            let pixels = images[part].map(padded)                                               // [3, ph, pw] each
            let input = Tensor.batch(pixels).scaled(by: span)                                   // [3, (B,) ph, pw]
            if lo != 0 { for i in 0..<input.count { input.data[i] += lo } }
            let encoded = model.imageEncoder.encode(batch: input, ws).scaled(by: model.config.imageEncoder.scalingFactor).items
            return zip(encoded, pixels).map { latent, rgb in
                var frame = Frame(width: width, height: height, workWidth: ww, workHeight: wh, padWidth: pw, padHeight: ph,
                                  imageLatent: latent, latentChannels: model.maskAutoencoder.latentChannels)
                if let edges = model.edges {
                    let probs = edges.probabilities(rgb: rgb, ws)                                // [6, ph, pw]
                    frame.imageLatent = Tensor.concat([latent, edges.conditioning(probabilities: probs,
                                                                                  cell: model.maskAutoencoder.downFactor)])
                    let fused = probs.data + (probs.shape[0] - 1) * ph * pw
                    frame.edges = (0..<(wh * ww)).map { fused[($0 / ww) * pw + $0 % ww] }
                }
                return frame
            }
        }
    }

    /// `0..<count` in consecutive parts of at most `RuntimeOptions.maxBatch` items, and of at
    /// most `batchFloats` when each item's largest map takes `floatsEach`: at high resolutions
    /// a batch would multiply the peak memory for little gain.
    func batches(of count: Int, floatsEach: Int = 0) -> [Range<Int>] {
        let size = max(1, min(ws.options.maxBatch, floatsEach > 0 ? Self.batchFloats / floatsEach : .max))
        return stride(from: 0, to: count, by: size).map { $0..<min(count, $0 + size) }
    }

    /// Largest map a batch may make in the encoder or the mask decoder, in floats (256 MiB).
    static let batchFloats = 1 << 26

    /// The resized size before padding: the longest side or both sides at `resolution`.
    static func workingSize(height: Int, width: Int, resolution: Int,
                            mode: ModelConfig.PreprocessingSection.ResizeMode) -> (height: Int, width: Int) {
        switch mode {
        case .squash: return (resolution, resolution)
        case .longestSide:
            let scale = Double(resolution) / Double(max(width, height))
            return (max(1, Int((Double(height) * scale).rounded(.toNearestOrEven))),
                    max(1, Int((Double(width) * scale).rounded(.toNearestOrEven))))
        }
    }

    /// A run from `noise` on `frame`'s image latent, with `options.steps` steps.
    func run(noise: Tensor, frame: Frame, known: DenoisingRun.KnownLatent?, options: SegmentationOptions) -> DenoisingRun {
        DenoisingRun(noise: noise, image: frame.imageLatent, known: known, steps: options.steps, scheduler: model.scheduler,
                     sampler: options.sampler, selfConditioning: model.selfConditioning, deepCacheInterval: options.deepCache,
                     tokenMerging: Float(options.tokenMerging))
    }

    /// Takes every run to its end, as batches of up to `RuntimeOptions.maxBatch` runs that step
    /// together; `progress` counts the steps of all runs.
    /// With a `batcher`, the steps may share passes with other workers' jobs.
    func denoise(_ runs: [DenoisingRun], progress: Progress, isCancelled: () -> Bool) throws {
        let total = runs.reduce(0) { $0 + $1.timesteps.count }
        var done = 0
        func loop() throws {
            for part in batches(of: runs.count) {
                let batch = Array(runs[part])
                while batch.contains(where: { !$0.isFinished }) {
                    if isCancelled() { throw LDMSegError.cancelled }
                    let stepping = batch.filter { !$0.isFinished }
                    if let batcher { batcher.step(stepping, on: self) } else { step(stepping) }
                    done += stepping.count
                    progress(done, total)
                }
            }
        }
        guard let batcher, !runs.isEmpty else { return try loop() }
        try batcher.denoising(StepBatcher.key(runs, ws), loop)
    }

    /// Advances every run by one step through a UNet pass over their `[C, B, h, w]` batch: one
    /// full pass, one shallow pass (DeepCache), or one of each when the runs differ, and one per
    /// token merging ratio. The runs' latents must share a size; their timesteps may differ.
    func step(_ runs: [DenoisingRun]) {
        precondition(!runs.isEmpty && runs.allSatisfy { !$0.isFinished }, "step needs unfinished runs")
        // Partitioned before any steps: a run's kind of pass changes as it advances.
        var groups: [(full: Bool, merging: Float, runs: [DenoisingRun])] = []
        for run in runs {
            let key = (run.needsFullPass, run.tokenMerging)
            if let i = groups.firstIndex(where: { ($0.full, $0.merging) == key }) { groups[i].runs.append(run) }
            else { groups.append((key.0, key.1, [run])) }
        }
        for (full, merging, group) in groups {
            let input = Tensor.batch(group.map(\.input))                            // [4 + Li (+ 4), B, h, w]
            let deep = full ? nil : Tensor.batch(group.map { $0.deep! })          // [C0, B, h, w]
            let out = model.unet.pass(input, timesteps: group.map { Float($0.timestep) }, reusing: deep, tokenMerging: merging, ws)
            for (i, (run, eps)) in zip(group, out.eps.items).enumerated() {     // eps [4, h, w]
                if full && run.deepCacheInterval > 1 { run.deep = out.deep.item(i) }
                run.advance(eps: eps, model.scheduler)
            }
        }
    }

    /// The panoptic result of `logits` (`[S, h', w']`, averaged over `runs` runs): snapped to the
    /// image's edges where the model says so (`edges.snap_depth`), scored (for an ensemble,
    /// `agreement` gives each slot's mean IoU with the runs: `SegmentScoring.agreement`), and
    /// without the segments under `min_score`.
    func segments(logits: Tensor, frame: Frame, options: SegmentationOptions, runs: Int = 1, agreement: [Float]? = nil) -> PanopticResult {
        var (ids, confidence) = postProcessor(options).ids(logits: logits, height: frame.height, width: frame.width, ws)
        if let depth = model.config.edges?.snapDepth, let edges = frame.edges {
            let slots = EdgeSnapping.snap(slots: ids.map { Int32(bitPattern: $0) &- 1 }, width: frame.width, height: frame.height, edges: edges,
                                          edgeWidth: frame.workWidth, edgeHeight: frame.workHeight, depth: depth,
                                          minArea: options.postProcessing.countThreshold, firstFreeSlot: Int32(model.maskAutoencoder.slots))
            ids = slots.map { $0 < 0 ? 0 : UInt32($0) + 1 }
        }
        var result = PanopticResult(width: frame.width, height: frame.height, ids: ids)
        let byID = agreement.map { a in Dictionary(uniqueKeysWithValues: a.indices.map { (UInt32($0 + 1), a[$0]) }) }
        result.evidence = ScoreEvidence(confidence: confidence, agreement: byID, runs: runs)
        result.score(calibration: model.config.scoring)
        return result.keeping(minScore: options.postProcessing.minScore)
    }

    func postProcessor(_ options: SegmentationOptions) -> PanopticPostProcessor {
        PanopticPostProcessor(options: options.postProcessing, voidSlot: model.config.maskAutoencoder.voidSlot)
    }

    /// Latent -> slot logits `[S, h', w']` at the working size, padding cropped off.
    func decodeLogits(_ latent: Tensor, frame: Frame) -> Tensor {
        var logits: Tensor?
        decodeLogits([latent], frames: [frame]) { logits = $1 }
        return logits!
    }

    /// `decodeLogits` of each latent, handed to `body` with its index in order; decoded in
    /// batches within `RuntimeOptions.maxBatch` and `batchFloats`.
    func decodeLogits(_ latents: [Tensor], frames: [Frame], _ body: (Int, Tensor) -> Void) {
        let ae = model.maskAutoencoder
        let f = ae.interpolationFactor, frame = frames[0]
        for part in batches(of: latents.count, floatsEach: ae.slots * (frame.padHeight / f) * (frame.padWidth / f)) {
            let z = Tensor.batch(Array(latents[part])).scaled(by: 1 / model.config.maskAutoencoder.scalingFactor)
            for (i, logits) in zip(part, ae.decode(z, ws).items) {                      // [S, padH/f, padW/f]
                var full = logits
                if f != 1 {
                    full = Resize.bilinear(logits, height: frames[i].padHeight, width: frames[i].padWidth, ws) // [S, padH, padW]
                }
                body(i, full.cropped(height: frames[i].workHeight, width: frames[i].workWidth))          // [S, h', w']
            }
        }
    }

    /// Encodes the known part of a slot map at the working resolution; returns the scaled
    /// latent and which latent cells are fully known.
    func encodeKnown(_ slots: [Int32], _ known: [Bool], frame: Frame) -> (Tensor, [Bool]) {
        let (ph, pw, wh, ww) = (frame.padHeight, frame.padWidth, frame.workHeight, frame.workWidth)
        var work = [Int32](repeating: 0, count: ph * pw)
        var workKnown = [Bool](repeating: false, count: ph * pw)
        let ys = (0..<wh).map { min(frame.height - 1, Int(Float($0) * (Float(frame.height) / Float(wh)))) }
        let xs = (0..<ww).map { min(frame.width - 1, Int(Float($0) * (Float(frame.width) / Float(ww)))) }
        for y in 0..<wh {
            for x in 0..<ww {
                let src = ys[y] * frame.width + xs[x]
                if known[src] { work[y * pw + x] = slots[src]; workKnown[y * pw + x] = true }
            }
        }
        let ae = model.maskAutoencoder
        let bits = BitEncoding.encode(slots: work, void: workKnown.map { !$0 }, width: pw, height: ph, bits: ae.bits)
        let z = ae.encode(bits, ws).scaled(by: model.config.maskAutoencoder.scalingFactor)
        let f = ae.downFactor, lh = ph / f, lw = pw / f
        var cells = [Bool](repeating: false, count: lh * lw)
        for cy in 0..<lh {
            for cx in 0..<lw {
                var all = true
                for y in (cy * f)..<(cy * f + f) where all { for x in (cx * f)..<(cx * f + f) where !workKnown[y * pw + x] { all = false; break } }
                cells[cy * lw + cx] = all
            }
        }
        return (z, cells)
    }
}
