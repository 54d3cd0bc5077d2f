import LDMSeg

extension PanopticResult {
    /// These class-agnostic segments categorised by a semantic label map (majority vote per
    /// segment, stuff segments of one class merged: `CategorisedPanoptic.merge`), with areas and
    /// boxes of the merged segments.
    public func categorised(labels: [Int], categories: [PanopticCategory]) -> PanopticResult {
        let merged = CategorisedPanoptic.merge(ids: ids, labels: labels, categories: categories)
        let categoryOf = Dictionary(uniqueKeysWithValues: merged.segments.map { ($0.id, $0.categoryID) })
        var result = PanopticResult(width: width, height: height, ids: merged.ids)
        result.evidence = evidence
        // A merged segment's score: the mean score of the pixels it took over (a million at most sampled).
        let scoreOf = Dictionary(uniqueKeysWithValues: segments.compactMap { s in s.score.map { (s.id, $0) } })
        var sums: [UInt32: (sum: Float, count: Int)] = [:]
        if !scoreOf.isEmpty {
            for i in stride(from: 0, to: ids.count, by: max(1, ids.count / 1_000_000)) where merged.ids[i] != 0 {
                guard let score = scoreOf[ids[i]] else { continue }
                sums[merged.ids[i], default: (0, 0)].sum += score
                sums[merged.ids[i], default: (0, 0)].count += 1
            }
        }
        for i in result.segments.indices {
            let id = result.segments[i].id
            result.segments[i].categoryID = categoryOf[id] ?? 0
            result.segments[i].score = sums[id].map { ($0.sum / Float($0.count) * 1000).rounded() / 1000 } ?? scoreOf[id]
        }
        return result
    }
}
