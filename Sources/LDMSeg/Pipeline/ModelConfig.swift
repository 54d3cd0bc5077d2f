/// `config.json` of a model directory (docs/model-directory.md).
public struct ModelConfig: Sendable, Codable, Equatable {
    public struct ImageEncoderSection: Sendable, Codable, Equatable {
        public var type: String
        public var weights: String
        public var inputRange: [Float]
        public var scalingFactor: Float
        public var normNumGroups: Int?

        enum CodingKeys: String, CodingKey {
            case type, weights, inputRange = "input_range", scalingFactor = "scaling_factor", normNumGroups = "norm_num_groups"
        }
    }

    public struct MaskAutoencoderSection: Sendable, Codable, Equatable {
        public var weights: String
        public var scalingFactor: Float
        public var normNumGroups: Int

        enum CodingKeys: String, CodingKey {
            case weights, scalingFactor = "scaling_factor", normNumGroups = "norm_num_groups"
        }
    }

    public struct UNetSection: Sendable, Codable, Equatable {
        public var weights: String
        public var config: UNetConfig

        enum CodingKeys: String, CodingKey { case weights }

        public init(from decoder: Decoder) throws {
            weights = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .weights)
            config = try UNetConfig(from: decoder)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(weights, forKey: .weights)
            try config.encode(to: encoder)
        }
    }

    /// Request defaults.
    public struct InferenceSection: Sendable, Codable, Equatable {
        public var steps: Int
        public var resolution: Int
        public var maskTh: Float
        public var countTh: Int
        public var overlapTh: Float
        /// Test-time ensembling of segmentation (absent: one run); inpainting always runs once.
        public var ensembleSeeds: Int?
        public var flip: Bool?

        enum CodingKeys: String, CodingKey {
            case steps, resolution, maskTh = "mask_th", countTh = "count_th", overlapTh = "overlap_th"
            case ensembleSeeds = "ensemble_seeds", flip
        }
    }

    public var format: String
    public var formatVersion: Int
    public var name: String
    public var imageEncoder: ImageEncoderSection
    public var maskAutoencoder: MaskAutoencoderSection
    public var unet: UNetSection
    public var scheduler: SchedulerConfig
    public var inference: InferenceSection

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", name, imageEncoder = "image_encoder"
        case maskAutoencoder = "mask_autoencoder", unet, scheduler, inference
    }
}
