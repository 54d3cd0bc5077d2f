import Foundation
import Imaging

/// COCO panoptic JSON, the parts evaluation reads.
struct PanopticJSON: Decodable {
    struct Segment: Decodable {
        var id: UInt32
        var category_id: Int
        var iscrowd: Int?
        var area: Int?
    }
    struct Annotation: Decodable {
        var image_id: ImageID
        var file_name: String
        var segments_info: [Segment]
    }
    struct Category: Decodable {
        var id: Int
        var name: String?
        var isthing: Int?
    }
    var annotations: [Annotation]
    var categories: [Category]?
}

/// COCO image ids are integers or strings.
struct ImageID: Decodable, Hashable, CustomStringConvertible {
    let description: String
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { description = String(i) } else { description = try c.decode(String.self) }
    }
}

/// PQ overall, for things and stuff, and per category.
public struct PanopticReport: Sendable, Codable, Equatable {
    public var all: PQSummary
    public var things: PQSummary
    public var stuff: PQSummary
    public var perCategory: [String: PQSummary]
    public var images: Int

    enum CodingKeys: String, CodingKey { case all = "All", things = "Things", stuff = "Stuff", perCategory = "per_category", images }
}

public enum PanopticEvaluation {
    /// Evaluates predictions against ground truth in COCO panoptic format. With
    /// `classAgnostic`, every segment counts as one thing category.
    public static func evaluate(gtJSON: String, gtFolder: String, predJSON: String, predFolder: String,
                                classAgnostic: Bool = false) throws -> PanopticReport {
        let gt = try load(gtJSON), pred = try load(predJSON)
        var categories: [Int: Bool] = [:]
        for c in gt.categories ?? [] { categories[c.id] = (c.isthing ?? 1) == 1 }
        if classAgnostic { categories = [1: true] }
        let predByImage = Dictionary(pred.annotations.map { ($0.image_id, $0) }, uniquingKeysWith: { a, _ in a })
        var pq = PanopticQuality()
        for g in gt.annotations {
            guard let p = predByImage[g.image_id] else { throw EvaluationError.missingPrediction(imageID: g.image_id.description) }
            let gtMap = try readIDs(folder: gtFolder, file: g.file_name)
            let predMap = try readIDs(folder: predFolder, file: p.file_name)
            func segments(_ a: PanopticJSON.Annotation) -> [EvalSegment] {
                a.segments_info.map { EvalSegment(id: $0.id, categoryID: classAgnostic ? 1 : $0.category_id,
                                                  isCrowd: ($0.iscrowd ?? 0) == 1, area: $0.area ?? 0) }
            }
            try pq.add(image: g.file_name, gtIDs: gtMap, gt: segments(g), predIDs: predMap, pred: segments(p),
                       knownCategories: Set(categories.keys))
        }
        let perClass = pq.average(categories: categories).perClass
        return PanopticReport(all: pq.average(categories: categories).summary,
                              things: pq.average(categories: categories, isThing: true).summary,
                              stuff: pq.average(categories: categories, isThing: false).summary,
                              perCategory: Dictionary(uniqueKeysWithValues: perClass.map { (String($0.key), $0.value) }),
                              images: gt.annotations.count)
    }

    static func load(_ path: String) throws -> PanopticJSON {
        do {
            return try JSONDecoder().decode(PanopticJSON.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw EvaluationError.unreadable(path: path, reason: "\(error)")
        }
    }

    static func readIDs(folder: String, file: String) throws -> [UInt32] {
        let path = URL(fileURLWithPath: folder).appendingPathComponent(file).path
        do {
            return try PanopticPNG.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).ids
        } catch {
            throw EvaluationError.unreadable(path: path, reason: "\(error)")
        }
    }
}
