import XCTest
@testable import Pipeline

final class CategorisedPanopticTests: XCTestCase {
    let categories = [PanopticCategory(id: 1, name: "person", isthing: 1), PanopticCategory(id: 7, name: "car", isthing: 1),
                      PanopticCategory(id: 184, name: "sky", isthing: 0)]

    func testMajorityVoteStuffMergeAndIgnoredSegments() {
        // Segments: 10 (mostly person), 11 and 12 (both sky: merge), 13 (only ignored labels: dropped).
        let ids: [UInt32] = [10, 10, 10, 11, 11, 12, 13, 0]
        let labels = [0, 0, 1, 2, 2, 2, 255, 0]
        let (out, segments) = CategorisedPanoptic.merge(ids: ids, labels: labels, categories: categories)
        XCTAssertEqual(out, [10, 10, 10, 11, 11, 11, 0, 0])
        XCTAssertEqual(segments, [.init(id: 10, categoryID: 1, area: 3), .init(id: 11, categoryID: 184, area: 3)])
    }

    func testThingsOfOneClassStaySeparate() {
        let (out, segments) = CategorisedPanoptic.merge(ids: [1, 2], labels: [1, 1], categories: categories)
        XCTAssertEqual(out, [1, 2])
        XCTAssertEqual(segments.map(\.categoryID), [7, 7])
    }
}
