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
        /// A slot the model was trained to leave for ignored pixels (LDMSeg: 0); its pixels are
        /// void in the output. Absent: every slot is a segment.
        public var voidSlot: Int?

        enum CodingKeys: String, CodingKey {
            case weights, scalingFactor = "scaling_factor", normNumGroups = "norm_num_groups", voidSlot = "void_slot"
        }
    }

    public struct UNetSection: Sendable, Codable, Equatable {
        public var weights: String
        public var config: UNetConfig
        /// The UNet also takes its previous x0 estimate (zeros at the first step) as input
        /// channels after the image latent. Absent: read from `conv_in`'s input channels.
        public var selfConditioning: Bool?

        enum CodingKeys: String, CodingKey { case weights, selfConditioning = "self_conditioning" }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            weights = try c.decode(String.self, forKey: .weights)
            selfConditioning = try c.decodeIfPresent(Bool.self, forKey: .selfConditioning)
            config = try UNetConfig(from: decoder)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(weights, forKey: .weights)
            try c.encodeIfPresent(selfConditioning, forKey: .selfConditioning)
            try config.encode(to: encoder)
        }
    }

    /// How an image becomes the encoder's input at the working resolution.
    public struct PreprocessingSection: Sendable, Codable, Equatable {
        public enum ResizeMode: String, Sendable, Codable {
            /// The longest side becomes the working resolution; the aspect ratio is kept.
            case longestSide = "longest_side"
            /// Both sides become the working resolution (LDMSeg's evaluation transform).
            case squash
        }

        public enum Interpolation: String, Sendable, Codable {
            /// PyTorch bilinear, no antialiasing.
            case bilinear
            /// PIL's antialiased bicubic (a = -0.5), rounded to 8 bits as PIL does.
            case bicubic
        }

        public var resize: ResizeMode
        public var interpolation: Interpolation
        /// The padded size is a multiple of this (absent: the model's own size multiple).
        public var padMultiple: Int?

        public init(resize: ResizeMode = .longestSide, interpolation: Interpolation = .bilinear, padMultiple: Int? = nil) {
            self.resize = resize
            self.interpolation = interpolation
            self.padMultiple = padMultiple
        }

        enum CodingKeys: String, CodingKey { case resize, interpolation, padMultiple = "pad_multiple" }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            resize = try c.decodeIfPresent(ResizeMode.self, forKey: .resize) ?? .longestSide
            interpolation = try c.decodeIfPresent(Interpolation.self, forKey: .interpolation) ?? .bilinear
            padMultiple = try c.decodeIfPresent(Int.self, forKey: .padMultiple)
        }
    }

    /// An edge detector whose maps condition the UNet beside the image latent.
    public struct EdgesSection: Sendable, Codable, Equatable {
        /// `hed` (`HEDNetwork`).
        public var type: String
        public var weights: String
        /// Segmentations are snapped to the edges (`EdgeSnapping`) with watershed markers this
        /// deep; absent: not snapped.
        public var snapDepth: Double?

        enum CodingKeys: String, CodingKey { case type, weights, snapDepth = "snap_depth" }
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
        /// Absent: DDIM.
        public var sampler: Sampler?
        /// DeepCache's interval (`SegmentationOptions.deepCache`); absent: 1, every pass full.
        public var deepCache: Int?
        /// Token merging's ratio (`SegmentationOptions.tokenMerging`); absent: 0, none.
        public var tokenMerging: Double?

        enum CodingKeys: String, CodingKey {
            case steps, resolution, maskTh = "mask_th", countTh = "count_th", overlapTh = "overlap_th"
            case ensembleSeeds = "ensemble_seeds", flip, sampler, deepCache = "deep_cache", tokenMerging = "token_merging"
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
    /// Absent: longest side, bilinear, padded to the model's size multiple.
    public var preprocessing: PreprocessingSection?
    /// Absent: the UNet is conditioned on the image latent alone.
    public var edges: EdgesSection?
    /// Segment score calibration fitted on training images; absent: uncalibrated scores.
    public var scoring: SegmentScoring?

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", name, imageEncoder = "image_encoder"
        case maskAutoencoder = "mask_autoencoder", unet, scheduler, inference, preprocessing, edges, scoring
    }
}
