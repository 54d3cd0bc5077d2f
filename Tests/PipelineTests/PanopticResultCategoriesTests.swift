import Pipeline
import LDMSeg
import XCTest

final class PanopticResultCategoriesTests: XCTestCase {
    func testSegmentsTakeTheVotedCategoryAndMergedBoxes() {
        let categories = [PanopticCategory(id: 1, name: "person", isthing: 1), PanopticCategory(id: 184, name: "sky", isthing: 0)]
        // 4x2 map: segment 5 (person) on the left, sky segments 6 and 7 on the right merge into 6,
        // segment 8 has only ignored labels and is dropped.
        let result = PanopticResult(width: 4, height: 2, ids: [5, 5, 6, 6,
                                                               5, 8, 7, 7])
        let labels = [0, 0, 1, 1,
                      0, 255, 1, 1]
        let categorised = result.categorised(labels: labels, categories: categories)
        XCTAssertEqual(categorised.ids, [5, 5, 6, 6, 5, 0, 6, 6])
        XCTAssertEqual(categorised.segments, [
            PanopticSegment(id: 5, categoryID: 1, isCrowd: 0, area: 3, bbox: [0, 0, 2, 2]),
            PanopticSegment(id: 6, categoryID: 184, isCrowd: 0, area: 4, bbox: [2, 0, 2, 2]),
        ])
    }
}
