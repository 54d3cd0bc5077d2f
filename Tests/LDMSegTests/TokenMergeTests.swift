import XCTest
@testable import LDMSeg
import NNRuntime

/// `TokenMerge` on maps the UNet fixtures do not reach (odd sides, no whole 2x2 cell, ratios past
/// the sources), checked against its definition computed directly.
final class TokenMergeTests: XCTestCase {
    let ws = Workspace.testing()

    func cosine(_ x: Tensor, _ i: Int, _ j: Int) -> Float {
        let c = x.shape[1], a = x.data + i * c, b = x.data + j * c
        var (ab, aa, bb): (Float, Float, Float) = (0, 0, 0)
        for k in 0..<c { ab += a[k] * b[k]; aa += a[k] * a[k]; bb += b[k] * b[k] }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }

    func row(_ x: Tensor, _ i: Int) -> [Float] { Array(x.array[(i * x.shape[1])..<((i + 1) * x.shape[1])]) }

    func testOddMapsMergeTheMostSimilarSourcesIntoTheirBestDestination() {
        var noise = GaussianNoise(seed: 41)
        let (height, width, c, batch) = (5, 7, 6, 2), n = 35
        let x = noise.tensor([batch * n, c])
        let plan = TokenMerge(metric: x, batch: batch, height: height, width: width, ratio: 0.5, ws)
        // Whole 2x2 cells only: rows 0 and 2, columns 0, 2 and 4.
        XCTAssertEqual(plan.destinations, [0, 2, 4, 14, 16, 18])
        XCTAssertEqual(plan.sources.count, 29)
        XCTAssertEqual(plan.mergedTokens, n - 17)
        let merged = plan.merge(x)
        XCTAssertEqual(merged.shape, [batch * (n - 17), c])
        let back = plan.unmerge(merged)
        for m in 0..<batch {
            let token = { (p: Int) in m * n + p }
            // Each source's best destination, and the 17 best sources merged.
            let best = plan.sources.map { s in plan.destinations.indices.max { cosine(x, token(s), token(plan.destinations[$0])) < cosine(x, token(s), token(plan.destinations[$1])) }! }
            let score = plan.sources.indices.map { cosine(x, token(plan.sources[$0]), token(plan.destinations[best[$0]])) }
            let threshold = score.sorted(by: >)[16]
            XCTAssertEqual(plan.merged[m].count, 17)
            for (s, d) in plan.merged[m] {
                XCTAssertEqual(d, best[s])
                XCTAssertGreaterThanOrEqual(score[s], threshold - 1e-6)
            }
            for s in plan.kept[m] { XCTAssertEqual(row(back, token(plan.sources[s])), row(x, token(plan.sources[s])), "kept tokens pass through") }
            for (d, p) in plan.destinations.enumerated() {
                let into = plan.merged[m].filter { $0.destination == d }.map { token(plan.sources[$0.source]) }
                let mean = (0..<c).map { k in ([token(p)] + into).map { x.data[$0 * c + k] }.reduce(0, +) / Float(1 + into.count) }
                for (a, b) in zip(row(back, token(p)), mean) { XCTAssertEqual(a, b, accuracy: 1e-5) }
                for t in into { XCTAssertEqual(row(back, t), row(back, token(p)), "merged sources take their destination's row") }
            }
        }
    }

    func testMergingStopsAtTheSourcesAndNeedsAWholeCell() {
        var noise = GaussianNoise(seed: 42)
        let x = noise.tensor([12, 3])
        let capped = TokenMerge(metric: x, batch: 1, height: 3, width: 4, ratio: 0.9, ws)
        XCTAssertEqual(capped.mergedTokens, capped.destinations.count, "every source merged, no more")
        let line = TokenMerge(metric: x, batch: 1, height: 1, width: 12, ratio: 0.5, ws)
        XCTAssertEqual(line.mergedTokens, 12, "a single row has no whole 2x2 cell to merge into")
        XCTAssertEqual(line.unmerge(line.merge(x)).array, x.array)
    }
}
