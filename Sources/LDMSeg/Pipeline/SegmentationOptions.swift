/// Per-request inference settings.
public struct SegmentationOptions: Sendable, Equatable, Codable {
    /// DDIM steps (1...1000).
    public var steps: Int
    /// Noise seed: same seed, same input, same options -> identical output.
    public var seed: UInt64
    /// Working resolution: the longest image side is resized to this, then padded.
    public var resolution: Int
    public var postProcessing: PostProcessingOptions

    public init(steps: Int, seed: UInt64, resolution: Int, postProcessing: PostProcessingOptions) {
        self.steps = steps
        self.seed = seed
        self.resolution = resolution
        self.postProcessing = postProcessing
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
    }
}
