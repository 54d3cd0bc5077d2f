import NNRuntime

/// Per-request inference settings.
public struct SegmentationOptions: Sendable, Equatable, Codable {
    /// DDIM steps (1...1000).
    public var steps: Int
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
                ensemble: Ensemble = Ensemble(), precision: Precision = .fp32) {
        self.steps = steps
        self.seed = seed
        self.resolution = resolution
        self.postProcessing = postProcessing
        self.ensemble = ensemble
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey { case steps, seed, resolution, postProcessing, ensemble, precision }

    /// `ensemble` and `precision` may be absent (a single run, fp32), so options stored before
    /// they existed still decode.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        seed = try c.decode(UInt64.self, forKey: .seed)
        resolution = try c.decode(Int.self, forKey: .resolution)
        postProcessing = try c.decode(PostProcessingOptions.self, forKey: .postProcessing)
        ensemble = try c.decodeIfPresent(Ensemble.self, forKey: .ensemble) ?? Ensemble()
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
    }

    /// Throws `invalidOption` naming the first option out of range.
    public func validate(trainSteps: Int = 1000, maxResolution: Int = 2048) throws {
        guard (1...trainSteps).contains(steps) else {
            throw LDMSegError.invalidOption(name: "steps", value: "\(steps)", reason: "must be in 1...\(trainSteps)")
        }
        guard (64...maxResolution).contains(resolution) else {
            throw LDMSegError.invalidOption(name: "resolution", value: "\(resolution)", reason: "must be in 64...\(maxResolution)")
        }
        let p = postProcessing
        guard p.maskThreshold > 0, p.maskThreshold < 1 else {
            throw LDMSegError.invalidOption(name: "mask_th", value: "\(p.maskThreshold)", reason: "must be in (0, 1)")
        }
        guard p.countThreshold >= 0 else {
            throw LDMSegError.invalidOption(name: "count_th", value: "\(p.countThreshold)", reason: "must be >= 0")
        }
        guard p.overlapThreshold >= 0, p.overlapThreshold <= 1 else {
            throw LDMSegError.invalidOption(name: "overlap_th", value: "\(p.overlapThreshold)", reason: "must be in [0, 1]")
        }
        guard p.minScore >= 0, p.minScore <= 1 else {
            throw LDMSegError.invalidOption(name: "min_score", value: "\(p.minScore)", reason: "must be in [0, 1]")
        }
        guard (1...Ensemble.maxSeeds).contains(ensemble.seeds) else {
            throw LDMSegError.invalidOption(name: "ensemble_seeds", value: "\(ensemble.seeds)", reason: "must be in 1...\(Ensemble.maxSeeds)")
        }
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
    /// The largest `seeds` accepted.
    public static let maxSeeds = 16

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
