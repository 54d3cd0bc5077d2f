import NNRuntime

/// Aligns the slots of one run with those of another (see `Ensemble`).
public enum SlotMatching {
    /// The argmax slot of every pixel of `[S, h, w]` logits (first slot wins ties).
    public static func argmax(_ logits: Tensor) -> [Int32] {
        let s = logits.shape[0], plane = logits.count / max(s, 1)
        var best = [Float](repeating: -.infinity, count: plane)
        var arg = [Int32](repeating: 0, count: plane)
        for k in 0..<s {
            let row = logits.data + k * plane
            for p in 0..<plane where row[p] > best[p] {
                best[p] = row[p]
                arg[p] = Int32(k)
            }
        }
        return arg
    }

    /// A permutation of `0..<slots` taking each slot of `candidate` to a slot of `reference`:
    /// pairs are matched greedily by descending IoU of their masks (ties: lower reference slot,
    /// then lower candidate slot); a candidate slot that overlaps no free reference slot keeps
    /// its own index when that is free, otherwise takes the lowest free index. Negative slots
    /// (void) count in neither mask.
    public static func permutation(reference: [Int32], candidate: [Int32], slots: Int) -> [Int] {
        precondition(reference.count == candidate.count, "\(reference.count) vs \(candidate.count) pixels")
        var inter = [Int](repeating: 0, count: slots * slots)  // [reference * slots + candidate]
        var refArea = [Int](repeating: 0, count: slots), candArea = [Int](repeating: 0, count: slots)
        for (r, c) in zip(reference, candidate) {
            if r >= 0 { refArea[Int(r)] += 1 }
            if c >= 0 { candArea[Int(c)] += 1 }
            if r >= 0 && c >= 0 { inter[Int(r) * slots + Int(c)] += 1 }
        }
        var pairs: [(iou: Double, r: Int, c: Int)] = []
        for r in 0..<slots where refArea[r] > 0 {
            for c in 0..<slots where inter[r * slots + c] > 0 {
                let i = inter[r * slots + c]
                pairs.append((Double(i) / Double(refArea[r] + candArea[c] - i), r, c))
            }
        }
        pairs.sort { ($0.iou, -$0.r, -$0.c) > ($1.iou, -$1.r, -$1.c) }
        var target = [Int](repeating: -1, count: slots)
        var taken = [Bool](repeating: false, count: slots)
        for p in pairs where target[p.c] < 0 && !taken[p.r] {
            target[p.c] = p.r
            taken[p.r] = true
        }
        for c in 0..<slots where target[c] < 0 && !taken[c] {
            target[c] = c
            taken[c] = true
        }
        var free = (0..<slots).filter { !taken[$0] }.makeIterator()
        for c in 0..<slots where target[c] < 0 { target[c] = free.next()! }
        return target
    }
}
