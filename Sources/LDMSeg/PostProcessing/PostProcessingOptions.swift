/// Thresholds that turn slot logits into panoptic segments (LDMSeg defaults, and no score cut).
public struct PostProcessingOptions: Sendable, Equatable, Codable {
    /// Pixels whose top softmax probability is below this are void.
    public var maskThreshold: Float = 0.5
    /// Segments with fewer pixels than this are dropped.
    public var countThreshold: Int = 512
    /// Segments whose argmax area over their own sigmoid >= mask_th area is below this are dropped.
    public var overlapThreshold: Float = 0.5
    /// Segments scored under this (`SegmentScoring`) are dropped; 0 keeps every segment.
    public var minScore: Float = 0

    public init(maskThreshold: Float = 0.5, countThreshold: Int = 512, overlapThreshold: Float = 0.5, minScore: Float = 0) {
        self.maskThreshold = maskThreshold
        self.countThreshold = countThreshold
        self.overlapThreshold = overlapThreshold
        self.minScore = minScore
    }

    enum CodingKeys: String, CodingKey {
        case maskThreshold = "mask_th", countThreshold = "count_th", overlapThreshold = "overlap_th", minScore = "min_score"
    }

    /// `min_score` may be absent (0), so options stored before it existed still decode.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maskThreshold = try c.decode(Float.self, forKey: .maskThreshold)
        countThreshold = try c.decode(Int.self, forKey: .countThreshold)
        overlapThreshold = try c.decode(Float.self, forKey: .overlapThreshold)
        minScore = try c.decodeIfPresent(Float.self, forKey: .minScore) ?? 0
    }
}
