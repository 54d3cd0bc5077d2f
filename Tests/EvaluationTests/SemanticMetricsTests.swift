import XCTest
@testable import Evaluation

final class SemanticMetricsTests: XCTestCase {
    func testMeanIoUAndPixelAccuracy() throws {
        var m = SemanticMetrics(numClasses: 3, ignoreLabel: 255)
        // gt:   0 0 1 1 255 2 ; pred: 0 1 1 1 0 0
        try m.add(image: "a", gt: [0, 0, 1, 1, 255, 2], pred: [0, 1, 1, 1, 0, 0])
        // class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 2, gt 2, pred 3 -> 2/3; class 2: tp 0, gt 1, pred 0 -> 0
        XCTAssertEqual(m.classIoU[0]!, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.classIoU[1]!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.classIoU[2]!, 0, accuracy: 1e-12)
        XCTAssertEqual(m.meanIoU, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.pixelAccuracy, 3.0 / 5, accuracy: 1e-12, "the ignored pixel does not count")
        XCTAssertThrowsError(try m.add(image: "b", gt: [7], pred: [0]))
    }
}
