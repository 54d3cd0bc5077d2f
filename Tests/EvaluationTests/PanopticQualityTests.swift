import XCTest
@testable import Evaluation

final class PanopticQualityTests: XCTestCase {
    func seg(_ id: UInt32, _ category: Int = 1, crowd: Bool = false, area: Int = 0) -> EvalSegment {
        EvalSegment(id: id, categoryID: category, isCrowd: crowd, area: area)
    }

    func testPerfectMatchAndVoidExcludedFromUnion() throws {
        // 2x4 image: gt segment 1 = left half, right half void; prediction covers 1 plus one void pixel.
        let gt: [UInt32] = [1, 1, 0, 0, 1, 1, 0, 0]
        let pred: [UInt32] = [5, 5, 5, 0, 5, 5, 0, 0]
        var pq = PanopticQuality()
        try pq.add(image: "a", gtIDs: gt, gt: [seg(1, area: 4)], predIDs: pred, pred: [seg(5)], knownCategories: [1])
        let s = pq.average(categories: [1: true]).summary
        XCTAssertEqual(s.pq, 1, accuracy: 1e-12, "the void pixel is not part of the union")
        XCTAssertEqual(s.n, 1)
    }

    func testUnmatchedPredictionMostlyInCrowdIsNotAFalsePositive() throws {
        let gt: [UInt32] = [1, 1, 9, 9, 9, 9, 0, 0]
        let pred: [UInt32] = [1, 1, 2, 2, 2, 0, 3, 3]
        var pq = PanopticQuality()
        try pq.add(image: "b", gtIDs: gt, gt: [seg(1, area: 2), seg(9, crowd: true, area: 4)], predIDs: pred,
                   pred: [seg(1), seg(2), seg(3)], knownCategories: [1])
        XCTAssertEqual(pq.stats[1], PQCategoryStat(iou: 1, tp: 1, fp: 0, fn: 0), "2 is in crowd, 3 is in void")
    }

    func testMismatchesAreNamed() {
        var pq = PanopticQuality()
        XCTAssertThrowsError(try pq.add(image: "x.png", gtIDs: [0, 0], gt: [], predIDs: [4, 0], pred: [], knownCategories: [1])) {
            XCTAssertEqual($0 as? EvaluationError, .segmentNotInJSON(image: "x.png", id: 4))
        }
        XCTAssertThrowsError(try pq.add(image: "y.png", gtIDs: [0], gt: [], predIDs: [0, 0], pred: [], knownCategories: [1])) {
            XCTAssertEqual($0 as? EvaluationError, .sizeMismatch(image: "y.png", gtPixels: 1, predPixels: 2))
        }
        XCTAssertThrowsError(try pq.add(image: "z.png", gtIDs: [0], gt: [], predIDs: [3], pred: [seg(3, 77)], knownCategories: [1])) {
            XCTAssertEqual($0 as? EvaluationError, .unknownCategory(image: "z.png", id: 3, categoryID: 77))
        }
    }
}
