/// A category of a COCO panoptic categories list.
public struct PanopticCategory: Sendable, Equatable, Decodable {
    public var id: Int
    public var name: String
    public var isthing: Int

    public init(id: Int, name: String, isthing: Int) {
        self.id = id; self.name = name; self.isthing = isthing
    }
}

/// Class-agnostic segments plus a semantic map -> categorised panoptic output (Painter's
/// majority vote): each segment takes the class with the most pixels under it; segments of the
/// same stuff class merge into one; segments whose pixels are all ignored are dropped.
public enum CategorisedPanoptic {
    public struct Segment: Sendable, Equatable {
        public var id: UInt32
        public var categoryID: Int
        public var area: Int
    }

    /// `ids`: segment id per pixel (0 = void); `labels`: semantic label per pixel, an index into
    /// `categories` (`ignoreLabel` and out-of-range labels do not vote).
    public static func merge(ids: [UInt32], labels: [Int], categories: [PanopticCategory],
                             ignoreLabel: Int = 255) -> (ids: [UInt32], segments: [Segment]) {
        precondition(ids.count == labels.count, "\(ids.count) ids for \(labels.count) labels")
        var votes: [UInt32: [Int: Int]] = [:]
        for (i, id) in ids.enumerated() where id != 0 {
            let l = labels[i]
            guard l != ignoreLabel, categories.indices.contains(l) else { continue }
            votes[id, default: [:]][l, default: 0] += 1
        }
        // Majority class per segment; ties go to the lower label so results are deterministic.
        var label: [UInt32: Int] = [:]
        for (id, v) in votes {
            label[id] = v.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }!.key
        }
        // Stuff segments of one class become the segment with the smallest id among them.
        var stuffOwner: [Int: UInt32] = [:]
        for id in label.keys.sorted() where categories[label[id]!].isthing == 0 {
            if stuffOwner[label[id]!] == nil { stuffOwner[label[id]!] = id }
        }
        var out = ids
        var area: [UInt32: Int] = [:]
        for i in out.indices where out[i] != 0 {
            guard let l = label[out[i]] else { out[i] = 0; continue }
            if categories[l].isthing == 0 { out[i] = stuffOwner[l]! }
            area[out[i], default: 0] += 1
        }
        let segments = area.keys.sorted().map { Segment(id: $0, categoryID: categories[label[$0]!].id, area: area[$0]!) }
        return (out, segments)
    }
}
