/// Per-category matching statistics, panopticapi's `PQStatCat`.
public struct PQCategoryStat: Sendable, Equatable {
    public var iou = 0.0
    public var tp = 0
    public var fp = 0
    public var fn = 0
}

/// PQ, SQ, RQ averaged over the categories that occur (`n` of them).
public struct PQSummary: Sendable, Equatable, Codable {
    public var pq: Double
    public var sq: Double
    public var rq: Double
    public var n: Int
}

/// One segment of a COCO panoptic annotation as the evaluator needs it.
public struct EvalSegment: Sendable, Equatable {
    public var id: UInt32
    public var categoryID: Int
    public var isCrowd: Bool
    /// Ground truth: the JSON's area (panopticapi uses it as given). Predictions: recounted.
    public var area: Int

    public init(id: UInt32, categoryID: Int, isCrowd: Bool, area: Int) {
        self.id = id; self.categoryID = categoryID; self.isCrowd = isCrowd; self.area = area
    }
}

/// Panoptic quality exactly as panopticapi's `pq_compute` computes it: a match is IoU > 0.5
/// between segments of the same category, void (id 0) pixels are left out of the union,
/// crowd ground truth is neither matched nor missed, and an unmatched prediction more than
/// half void or same-category crowd is not a false positive.
public struct PanopticQuality: Sendable {
    public private(set) var stats: [Int: PQCategoryStat] = [:]

    public init() {}

    /// Adds one image. `gtIDs` and `predIDs` are per-pixel segment ids of the same size.
    public mutating func add(image: String, gtIDs: [UInt32], gt: [EvalSegment], predIDs: [UInt32], pred: [EvalSegment],
                             knownCategories: Set<Int>) throws {
        guard gtIDs.count == predIDs.count else {
            throw EvaluationError.sizeMismatch(image: image, gtPixels: gtIDs.count, predPixels: predIDs.count)
        }
        var predSegs: [UInt32: EvalSegment] = [:]
        for s in pred { predSegs[s.id] = s }
        var gtSegs: [UInt32: EvalSegment] = [:]
        for s in gt { gtSegs[s.id] = s }

        // Prediction areas from the PNG, with panopticapi's sanity checks.
        var predArea: [UInt32: Int] = [:]
        for id in predIDs { predArea[id, default: 0] += 1 }
        for (id, count) in predArea.sorted(by: { $0.key < $1.key }) {
            guard var s = predSegs[id] else {
                if id == 0 { continue }
                throw EvaluationError.segmentNotInJSON(image: image, id: id)
            }
            guard knownCategories.contains(s.categoryID) else {
                throw EvaluationError.unknownCategory(image: image, id: id, categoryID: s.categoryID)
            }
            s.area = count
            predSegs[id] = s
        }
        let missing = predSegs.keys.filter { predArea[$0] == nil }.sorted()
        if !missing.isEmpty { throw EvaluationError.segmentNotInPNG(image: image, ids: missing) }

        // Intersections of every (gt id, pred id) pair.
        var pairs: [UInt64: Int] = [:]
        for i in 0..<gtIDs.count { pairs[UInt64(gtIDs[i]) << 32 | UInt64(predIDs[i]), default: 0] += 1 }
        func overlap(_ g: UInt32, _ p: UInt32) -> Int { pairs[UInt64(g) << 32 | UInt64(p)] ?? 0 }

        var gtMatched = Set<UInt32>(), predMatched = Set<UInt32>()
        for (key, intersection) in pairs {
            let g = UInt32(key >> 32), p = UInt32(key & 0xFFFF_FFFF)
            guard let gs = gtSegs[g], let ps = predSegs[p], !gs.isCrowd, gs.categoryID == ps.categoryID else { continue }
            let union = ps.area + gs.area - intersection - overlap(0, p)
            let iou = Double(intersection) / Double(union)
            if iou > 0.5 {
                stats[gs.categoryID, default: PQCategoryStat()].tp += 1
                stats[gs.categoryID, default: PQCategoryStat()].iou += iou
                gtMatched.insert(g)
                predMatched.insert(p)
            }
        }
        var crowdByCategory: [Int: UInt32] = [:]
        for s in gt where !gtMatched.contains(s.id) {
            if s.isCrowd {
                crowdByCategory[s.categoryID] = s.id  // the last crowd region of a category, as panopticapi
                continue
            }
            stats[s.categoryID, default: PQCategoryStat()].fn += 1
        }
        for s in predSegs.values where !predMatched.contains(s.id) {
            var ignored = overlap(0, s.id)
            if let crowd = crowdByCategory[s.categoryID] { ignored += overlap(crowd, s.id) }
            if Double(ignored) / Double(s.area) > 0.5 { continue }
            stats[s.categoryID, default: PQCategoryStat()].fp += 1
        }
    }

    /// Averages over `categories` (id -> isthing), optionally things or stuff only; categories
    /// with no segment at all are left out, as in panopticapi.
    public func average(categories: [Int: Bool], isThing: Bool? = nil) -> (summary: PQSummary, perClass: [Int: PQSummary]) {
        var pq = 0.0, sq = 0.0, rq = 0.0, n = 0
        var perClass: [Int: PQSummary] = [:]
        for (id, thing) in categories.sorted(by: { $0.key < $1.key }) {
            if let isThing, isThing != thing { continue }
            let s = stats[id] ?? PQCategoryStat()
            guard s.tp + s.fp + s.fn > 0 else {
                perClass[id] = PQSummary(pq: 0, sq: 0, rq: 0, n: 0)
                continue
            }
            let denominator = Double(s.tp) + 0.5 * Double(s.fp) + 0.5 * Double(s.fn)
            let c = PQSummary(pq: s.iou / denominator, sq: s.tp > 0 ? s.iou / Double(s.tp) : 0,
                              rq: Double(s.tp) / denominator, n: 1)
            perClass[id] = c
            pq += c.pq; sq += c.sq; rq += c.rq; n += 1
        }
        let d = Double(max(n, 1))
        return (PQSummary(pq: pq / d, sq: sq / d, rq: rq / d, n: n), perClass)
    }
}
