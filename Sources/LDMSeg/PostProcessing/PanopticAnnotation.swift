/// A COCO panoptic annotation for one image (`annotations[]` entry plus its size).
public struct PanopticAnnotation: Sendable, Codable, Equatable {
    public var fileName: String
    public var width: Int
    public var height: Int
    public var segments: [PanopticSegment]
    /// How the segments' `score`s were made (absent when they were not scored).
    public var scores: ScoreBasis?

    /// What a result's scores are read from, so a single run says it had one run to go on.
    public struct ScoreBasis: Sendable, Codable, Equatable {
        public var runs: Int
        /// `confidence` (mean top slot probability) and, for ensembles, `agreement` (mean IoU
        /// with the matched slot of each run).
        public var features: [String]
        /// Whether the model's calibration (fitted on training images) mapped them to probabilities.
        public var calibrated: Bool

        public init(runs: Int, features: [String], calibrated: Bool) {
            self.runs = runs
            self.features = features
            self.calibrated = calibrated
        }
    }

    public init(fileName: String, width: Int, height: Int, segments: [PanopticSegment]) {
        self.fileName = fileName
        self.width = width
        self.height = height
        self.segments = segments
    }

    enum CodingKeys: String, CodingKey {
        case fileName = "file_name", width, height, segments = "segments_info", scores
    }
}
