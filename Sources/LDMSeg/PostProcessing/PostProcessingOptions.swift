/// Thresholds that turn slot logits into panoptic segments (LDMSeg defaults).
public struct PostProcessingOptions: Sendable, Equatable, Codable {
    /// Pixels whose top softmax probability is below this are void.
    public var maskThreshold: Float = 0.5
    /// Segments with fewer pixels than this are dropped.
    public var countThreshold: Int = 512
    /// Segments whose argmax area over their own sigmoid >= mask_th area is below this are dropped.
    public var overlapThreshold: Float = 0.5

    public init(maskThreshold: Float = 0.5, countThreshold: Int = 512, overlapThreshold: Float = 0.5) {
        self.maskThreshold = maskThreshold
        self.countThreshold = countThreshold
        self.overlapThreshold = overlapThreshold
    }

    enum CodingKeys: String, CodingKey {
        case maskThreshold = "mask_th", countThreshold = "count_th", overlapThreshold = "overlap_th"
    }
}
