import NNRuntime

/// Token merging for self-attention (ToMe for SD, Bolya & Hoffman 2023): of an h x w map's
/// tokens, the top-left one of every 2x2 cell is a destination and the rest are sources; the
/// `ratio` x N sources most similar (cosine, on the block's input) to their nearest destination
/// are averaged into it. Attention then runs on the N - r tokens left, and each merged source
/// takes its destination's output back. One plan per map of the batch; every map loses the same
/// count, so the merged maps still batch.
struct TokenMerge {
    let tokens: Int, batch: Int
    /// Token positions in raster order: destinations, then sources.
    let destinations: [Int], sources: [Int]
    /// Per map: sources kept, in the order the merged tokens hold them; sources merged, each
    /// with the index of its destination.
    let kept: [[Int]], merged: [[(source: Int, destination: Int)]]

    /// Sources' best-destination scores are computed this many sources at a time.
    static let sourceBlock = 256

    /// The plan for `metric` (`[B*N, C]`, `batch` maps of `height` x `width` tokens).
    init(metric: Tensor, batch: Int, height: Int, width: Int, ratio: Float, _ ws: Workspace) {
        let n = height * width, c = metric.shape[1]
        precondition(metric.shape[0] == batch * n, "metric \(metric.shape) for \(batch) maps of \(height)x\(width)")
        (tokens, self.batch) = (n, batch)
        let isDestination = { (p: Int) in
            let (y, x) = p.quotientAndRemainder(dividingBy: width)
            return y % 2 == 0 && x % 2 == 0 && y < height / 2 * 2 && x < width / 2 * 2
        }
        destinations = (0..<n).filter(isDestination)
        sources = (0..<n).filter { !isDestination($0) }
        let r = destinations.isEmpty ? 0 : min(Int(Float(n) * ratio), sources.count)
        guard r > 0 else {
            (kept, merged) = (Array(repeating: Array(sources.indices), count: batch), Array(repeating: [], count: batch))
            return
        }
        // Rows scaled to unit length: their products are cosine similarities.
        let unit = Tensor(shape: [batch * n, c])
        ws.forRange(batch * n, minPerThread: 64) { rows in
            for t in rows {
                let src = metric.data + t * c, dst = unit.data + t * c
                var sum: Float = 0
                for j in 0..<c { sum += src[j] * src[j] }
                let inv = 1 / sum.squareRoot()
                for j in 0..<c { dst[j] = src[j] * inv }
            }
        }
        var kept: [[Int]] = [], merged: [[(Int, Int)]] = []
        let nd = destinations.count, ns = sources.count
        let a = Tensor(shape: [min(ns, Self.sourceBlock), c]), b = Tensor(shape: [nd, c])
        let scores = Tensor(shape: [min(ns, Self.sourceBlock), nd])
        for m in 0..<batch {
            let base = unit.data + m * n * c
            for (i, p) in destinations.enumerated() { (b.data + i * c).update(from: base + p * c, count: c) }
            var best = [Float](repeating: 0, count: ns), target = [Int](repeating: 0, count: ns)
            var s0 = 0
            while s0 < ns {
                let rows = min(Self.sourceBlock, ns - s0)
                for i in 0..<rows { (a.data + i * c).update(from: base + sources[s0 + i] * c, count: c) }
                // scores = A B^T  [rows, Nd]
                GEMM.sgemm(transB: true, m: rows, n: nd, k: c, a: a.data, lda: c, b: b.data, ldb: c, beta: 0, c: scores.data, ldc: nd, ws)
                for i in 0..<rows {
                    let row = scores.data + i * nd
                    var (top, at) = (row[0], 0)
                    for j in 1..<nd where row[j] > top { (top, at) = (row[j], j) }  // the first of equal maxima
                    (best[s0 + i], target[s0 + i]) = (top, at)
                }
                s0 += rows
            }
            // Most similar first; equal scores in source order.
            let order = (0..<ns).sorted { best[$0] != best[$1] ? best[$0] > best[$1] : $0 < $1 }
            merged.append(order.prefix(r).map { ($0, target[$0]) })
            kept.append(Array(order.dropFirst(r)))
        }
        self.kept = kept
        self.merged = merged
    }

    /// Tokens per map after merging.
    var mergedTokens: Int { kept.first.map { $0.count + destinations.count } ?? tokens }

    /// `x` `[B*N, C]` -> `[B*(N-r), C]`: kept sources, then destinations averaged with the
    /// sources merged into them.
    func merge(_ x: Tensor) -> Tensor {
        let c = x.shape[1], nm = mergedTokens
        let out = Tensor(shape: [batch * nm, c])
        for m in 0..<batch {
            let src = x.data + m * tokens * c, dst = out.data + m * nm * c
            for (i, s) in kept[m].enumerated() { (dst + i * c).update(from: src + sources[s] * c, count: c) }
            let sums = dst + kept[m].count * c
            for (i, p) in destinations.enumerated() { (sums + i * c).update(from: src + p * c, count: c) }
            var counts = [Float](repeating: 1, count: destinations.count)
            for (s, d) in merged[m] {
                let from = src + sources[s] * c, to = sums + d * c
                for j in 0..<c { to[j] += from[j] }
                counts[d] += 1
            }
            for (d, count) in counts.enumerated() where count > 1 {
                let row = sums + d * c
                for j in 0..<c { row[j] /= count }
            }
        }
        return out
    }

    /// `y` `[B*(N-r), C]` -> `[B*N, C]`: each token back at its position, merged sources with
    /// their destination's row.
    func unmerge(_ y: Tensor) -> Tensor {
        let c = y.shape[1], nm = mergedTokens
        let out = Tensor(shape: [batch * tokens, c])
        for m in 0..<batch {
            let src = y.data + m * nm * c, dst = out.data + m * tokens * c
            let dests = src + kept[m].count * c
            for (i, s) in kept[m].enumerated() { (dst + sources[s] * c).update(from: src + i * c, count: c) }
            for (i, p) in destinations.enumerated() { (dst + p * c).update(from: dests + i * c, count: c) }
            for (s, d) in merged[m] { (dst + sources[s] * c).update(from: dests + d * c, count: c) }
        }
        return out
    }
}
