import LDMSeg

extension PanopticResult {
    /// These class-agnostic segments categorised by a semantic label map (majority vote per
    /// segment, stuff segments of one class merged: `CategorisedPanoptic.merge`), with areas and
    /// boxes of the merged segments.
    public func categorised(labels: [Int], categories: [PanopticCategory]) -> PanopticResult {
        let merged = CategorisedPanoptic.merge(ids: ids, labels: labels, categories: categories)
        let categoryOf = Dictionary(uniqueKeysWithValues: merged.segments.map { ($0.id, $0.categoryID) })
        var result = PanopticResult(width: width, height: height, ids: merged.ids)
        for i in result.segments.indices { result.segments[i].categoryID = categoryOf[result.segments[i].id] ?? 0 }
        return result
    }
}
