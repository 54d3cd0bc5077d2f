/// A COCO panoptic annotation for one image (`annotations[]` entry plus its size).
public struct PanopticAnnotation: Sendable, Codable, Equatable {
    public var fileName: String
    public var width: Int
    public var height: Int
    public var segments: [PanopticSegment]

    public init(fileName: String, width: Int, height: Int, segments: [PanopticSegment]) {
        self.fileName = fileName
        self.width = width
        self.height = height
        self.segments = segments
    }

    enum CodingKeys: String, CodingKey {
        case fileName = "file_name", width, height, segments = "segments_info"
    }
}
