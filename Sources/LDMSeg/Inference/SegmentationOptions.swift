import NNRuntime

/// Per-request inference settings.
public struct SegmentationOptions: Sendable, Equatable, Codable {
    /// Sampler steps (`OptionLimits.steps`).
    public var steps: Int
    public var sampler: Sampler
    /// DeepCache (`OptionLimits.deepCache`): the whole UNet runs every this many steps, its
    /// shallowest levels alone in between, on the deep features of the last full pass.
    public var deepCache: Int
    /// Token merging (`OptionLimits.tokenMerging`): this share of the top-level transformers'
    /// tokens merged before self-attention (ToMe for SD).
    public var tokenMerging: Double
    /// Noise seed: same seed, same input, same options -> identical output.
    public var seed: UInt64
    /// Working resolution: the longest image side is resized to this, then padded.
    public var resolution: Int
    public var postProcessing: PostProcessingOptions
    /// Test-time ensembling (segmentation only); the default is a single run.
    public var ensemble: Ensemble
    /// Number format of the matrix products (bf16 falls back to fp32 on CPUs without AVX512-BF16).
    public var precision: Precision

    public init(steps: Int, seed: UInt64, resolution: Int, postProcessing: PostProcessingOptions,
                ensemble: Ensemble = Ensemble(), precision: Precision = .fp32, sampler: Sampler = .ddim, deepCache: Int = 1,
                tokenMerging: Double = 0) {
        self.steps = steps
        self.sampler = sampler
        self.deepCache = deepCache
        self.tokenMerging = tokenMerging
        self.seed = seed
        self.resolution = resolution
        self.postProcessing = postProcessing
        self.ensemble = ensemble
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey {
        case steps, sampler, deepCache, tokenMerging, seed, resolution, postProcessing, ensemble, precision
    }

    /// `sampler`, `deepCache`, `tokenMerging`, `ensemble` and `precision` may be absent (DDIM,
    /// every pass full, no merging, a single run, fp32), so options stored before they existed
    /// still decode.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        sampler = try c.decodeIfPresent(Sampler.self, forKey: .sampler) ?? .ddim
        deepCache = try c.decodeIfPresent(Int.self, forKey: .deepCache) ?? 1
        tokenMerging = try c.decodeIfPresent(Double.self, forKey: .tokenMerging) ?? 0
        seed = try c.decode(UInt64.self, forKey: .seed)
        resolution = try c.decode(Int.self, forKey: .resolution)
        postProcessing = try c.decode(PostProcessingOptions.self, forKey: .postProcessing)
        ensemble = try c.decodeIfPresent(Ensemble.self, forKey: .ensemble) ?? Ensemble()
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
    }

    /// Throws `invalidOption` naming the first option outside `OptionLimits` (steps also within
    /// the model's `trainSteps`).
    public func validate(trainSteps: Int = OptionLimits.steps.upperBound) throws {
        func check<T: Comparable>(_ name: String, _ value: T, _ range: ClosedRange<T>) throws {
            guard range.contains(value) else {
                throw LDMSegError.invalidOption(name: name, value: "\(value)", reason: "must be in \(range.lowerBound)...\(range.upperBound)")
            }
        }
        try check("steps", steps, OptionLimits.steps(trainSteps: trainSteps))
        try check("deep_cache", deepCache, OptionLimits.deepCache)
        try check("token_merging", tokenMerging, OptionLimits.tokenMerging)
        try check("resolution", resolution, OptionLimits.resolution)
        guard resolution % OptionLimits.resolutionMultiple == 0 else {
            throw LDMSegError.invalidOption(name: "resolution", value: "\(resolution)", reason: "must be a multiple of \(OptionLimits.resolutionMultiple)")
        }
        let p = postProcessing, mask = OptionLimits.maskTh
        guard Double(p.maskThreshold) > mask.lowerBound, Double(p.maskThreshold) < mask.upperBound else {
            throw LDMSegError.invalidOption(name: "mask_th", value: "\(p.maskThreshold)", reason: "must be in (\(mask.lowerBound), \(mask.upperBound))")
        }
        try check("count_th", p.countThreshold, OptionLimits.countTh)
        try check("overlap_th", Double(p.overlapThreshold), OptionLimits.overlapTh)
        try check("min_score", Double(p.minScore), OptionLimits.minScore)
        try check("ensemble_seeds", ensemble.seeds, OptionLimits.ensembleSeeds)
    }
}

/// Test-time ensembling: the decoded slot logits of several runs are averaged, then
/// post-processed once.
///
/// Runs: `seeds` noise seeds (`seed`, `seed + 1`, ...), each on the image and, with `flip`, also
/// on the image mirrored left-right with the same seed (its logits are mirrored back). That is
/// `seeds * (flip ? 2 : 1)` denoising runs; the image is encoded once per orientation.
///
/// Slot identities are arbitrary per run (the model is trained with instances on random slots),
/// so averaging logits slot by slot would mix unrelated segments. Each extra run is therefore
/// aligned first: its slots are matched to the slots of the running average by the IoU of
/// their argmax masks at the working resolution (`SlotMatching.permutation`), its logit
/// channels are permuted accordingly, then added. The matching is greedy by descending IoU,
/// which equals the optimal (Hungarian) assignment for every pair with IoU > 0.5, since such a
/// pair's masks can have no other partner above 0.5; it only differs among weak overlaps,
/// which the post-processing drops anyway. Slots that match nothing keep their index where it
/// is free. The flip run is aligned the same way rather than assumed to line up: a mirrored
/// input with the same noise is a different sample.
///
/// Logits, not probabilities, are averaged: the post-processing thresholds (softmax top
/// probability, sigmoid area) are then applied to one consensus map as to a single run, and a
/// segment present in only some runs is pulled towards void. With `seeds == 1` and no flip the
/// plain path runs and the output is byte-identical to no ensembling.
public struct Ensemble: Sendable, Equatable, Codable {
    /// Noise seeds to run (>= 1).
    public var seeds: Int
    /// Also run on the left-right mirrored image.
    public var flip: Bool

    public init(seeds: Int = 1, flip: Bool = false) {
        self.seeds = seeds
        self.flip = flip
    }

    /// True when there is only one run.
    public var isSingleRun: Bool { seeds == 1 && !flip }

    /// Denoising runs in all.
    public var runs: Int { seeds * (flip ? 2 : 1) }
}
