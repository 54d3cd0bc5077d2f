/// The values each job option may take, defined once: the API refuses a job outside them
/// (`JobOptions.apply`), the pipeline checks them again (`SegmentationOptions.validate`), the
/// configuration's limits stay inside them, and a test holds openapi.yaml to them.
public enum OptionLimits {
    /// DDIM steps; a model also allows at most its training steps (`steps(trainSteps:)`).
    public static let steps = 1...1000
    public static let seed = 0...Int.max
    /// Working resolution, a multiple of `resolutionMultiple` (the latent's cell).
    public static let resolution = 64...2048
    public static let resolutionMultiple = 8
    public static let countTh = 0...Int(Int32.max)
    public static let ensembleSeeds = 1...16
    /// DeepCache's interval: a full UNet pass every this many steps (1: every step).
    public static let deepCache = 1...1000
    /// ToMe's ratio: the share of a top-level map's tokens merged before self-attention (0:
    /// none). At most 3 in 4 tokens are sources, so a larger ratio merges no more.
    public static let tokenMerging = 0.0...0.75
    /// `mask_th` lies strictly between these.
    public static let maskTh = 0.0...1.0
    public static let overlapTh = 0.0...1.0
    public static let minScore = 0.0...1.0

    /// The steps a model trained with `trainSteps` timesteps can run.
    public static func steps(trainSteps: Int) -> ClosedRange<Int> { steps.lowerBound...min(steps.upperBound, max(1, trainSteps)) }
}
