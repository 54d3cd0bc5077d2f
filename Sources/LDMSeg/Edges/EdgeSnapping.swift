/// Segments snapped to image edges (the Python twin is `snap` in `tools/train/edge_prior.py`):
/// the edge map is cut into watershed regions (`EdgeWatershed`, markers `depth` deep), each
/// region takes the slot most of its pixels have, so segment boundaries follow the edges and
/// speckle inside a region disappears; a region mostly void becomes a segment of its own, as
/// the edge prior alone would make it. Segments under `minArea` pixels are then void.
public enum EdgeSnapping {
    /// `slots`: a slot per pixel of the `width x height` output (-1 void); `edges`: edge
    /// probabilities of the same picture at `edgeWidth x edgeHeight`. Returns snapped slots;
    /// new segments take slots from `firstFreeSlot` on.
    public static func snap(slots: [Int32], width: Int, height: Int, edges: [Float], edgeWidth: Int, edgeHeight: Int,
                            sigma: Double = 1, depth: Double, minArea: Int, firstFreeSlot: Int32) -> [Int32] {
        precondition(slots.count == width * height, "\(slots.count) slots for \(width)x\(height)")
        let small = EdgeWatershed.regions(edges: edges, height: edgeHeight, width: edgeWidth, sigma: sigma, depth: depth)
        let regions = nearest(small, width: edgeWidth, height: edgeHeight, toWidth: width, toHeight: height)
        // Votes per region: slot counts, void counted as slot -1.
        let count = Int(regions.max() ?? 0) + 1
        var votes = [[Int32: Int]](repeating: [:], count: count)
        for (r, s) in zip(regions, slots) { votes[Int(r)][s, default: 0] += 1 }
        var next = firstFreeSlot
        let winner: [Int32] = votes.map { tally in
            // Ties go to the lower slot, so the result does not depend on dictionary order.
            guard let best = tally.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key })?.key else { return -1 }
            if best >= 0 { return best }
            defer { next += 1 }
            return next
        }
        var out = regions.map { winner[Int($0)] }
        var area = [Int32: Int]()
        for s in out where s >= 0 { area[s, default: 0] += 1 }
        for i in out.indices where out[i] >= 0 && area[out[i]]! < minArea { out[i] = -1 }
        return out
    }

    /// Labels resized by nearest neighbour with pixel centres aligned (PIL's `NEAREST`).
    static func nearest(_ labels: [Int32], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Int32] {
        if width == toWidth && height == toHeight { return labels }
        let xs = (0..<toWidth).map { min(width - 1, Int((Double($0) + 0.5) * Double(width) / Double(toWidth))) }
        var out = [Int32](repeating: 0, count: toWidth * toHeight)
        for y in 0..<toHeight {
            let row = min(height - 1, Int((Double(y) + 0.5) * Double(height) / Double(toHeight))) * width
            for x in 0..<toWidth { out[y * toWidth + x] = labels[row + xs[x]] }
        }
        return out
    }
}
