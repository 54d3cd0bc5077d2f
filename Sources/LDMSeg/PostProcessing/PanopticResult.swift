/// One segment of a panoptic map (COCO panoptic `segments_info` entry).
public struct PanopticSegment: Sendable, Equatable, Codable {
    public var id: UInt32
    public var categoryID: Int
    public var isCrowd: Int
    public var area: Int
    /// [x, y, width, height]
    public var bbox: [Int]
    /// How likely the segment is right, in [0, 1] (`SegmentScoring`); nil when not scored.
    public var score: Float?

    public init(id: UInt32, categoryID: Int, isCrowd: Int, area: Int, bbox: [Int], score: Float? = nil) {
        self.id = id; self.categoryID = categoryID; self.isCrowd = isCrowd; self.area = area; self.bbox = bbox; self.score = score
    }

    enum CodingKeys: String, CodingKey {
        case id, categoryID = "category_id", isCrowd = "iscrowd", area, bbox, score
    }
}

/// A panoptic segmentation at the input image's size: a segment id per pixel (0 = void)
/// and the segments' descriptions, ordered by id.
public struct PanopticResult: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var ids: [UInt32]
    public var segments: [PanopticSegment]
    /// What the segments' scores and the uncertainty map come from (nil: not from the model).
    public var evidence: ScoreEvidence?

    public init(width: Int, height: Int, ids: [UInt32], categoryID: Int = 1) {
        self.width = width
        self.height = height
        self.ids = ids
        self.segments = PanopticResult.describe(ids: ids, width: width, categoryID: categoryID)
    }

    /// Areas and bounding boxes of every non-zero id.
    static func describe(ids: [UInt32], width: Int, categoryID: Int) -> [PanopticSegment] {
        var boxes: [UInt32: (area: Int, x0: Int, y0: Int, x1: Int, y1: Int)] = [:]
        for (i, id) in ids.enumerated() where id != 0 {
            let x = i % width, y = i / width
            if var b = boxes[id] {
                b.area += 1; b.x0 = min(b.x0, x); b.y0 = min(b.y0, y); b.x1 = max(b.x1, x); b.y1 = max(b.y1, y)
                boxes[id] = b
            } else {
                boxes[id] = (1, x, y, x, y)
            }
        }
        return boxes.keys.sorted().map { id in
            let b = boxes[id]!
            return PanopticSegment(id: id, categoryID: categoryID, isCrowd: 0, area: b.area,
                                   bbox: [b.x0, b.y0, b.x1 - b.x0 + 1, b.y1 - b.y0 + 1])
        }
    }
}
