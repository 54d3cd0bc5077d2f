import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

/// Segments snapped to edges against the Python twin (`edge_prior.snap`).
final class EdgeSnappingTests: XCTestCase {
    func testSnappingMatchesTheTwin() throws {
        let f = try Fixture("edge_watershed", in: .module)
        let config = f.metadata("config")
        let edges = try f.tensor("__input__.edges"), ids = try f.tensor("__input__.ids")
        let slots = ids.array.map { Int32($0) - 1 }                     // id 0 is void (-1)
        let snapped = EdgeSnapping.snap(slots: slots, width: ids.shape[1], height: ids.shape[0], edges: edges.array,
                                        edgeWidth: edges.shape[1], edgeHeight: edges.shape[0],
                                        sigma: config["sigma"] as! Double, depth: config["depth"] as! Double,
                                        minArea: config["min_area"] as! Int, firstFreeSlot: 128)
        let expected = try f.tensor("__output__.snapped").array.map { Int32($0) - 1 }
        XCTAssertGreaterThan(Set(expected).count, 3)
        XCTAssertTrue(expected.contains { $0 >= 128 }, "a mostly void region becomes a segment of its own")
        let agree = zip(snapped, expected).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(expected.count), 0.99)
    }

    func testARegionTakesItsMajoritySlotAndSmallSegmentsGoVoid() {
        // One flat region (no edges): every pixel takes the majority slot 2.
        let slots: [Int32] = [2, 2, 2, 1, -1, 2]
        let flat = [Float](repeating: 0, count: 6)
        XCTAssertEqual(EdgeSnapping.snap(slots: slots, width: 3, height: 2, edges: flat, edgeWidth: 3, edgeHeight: 2,
                                         depth: 0.5, minArea: 1, firstFreeSlot: 9), [2, 2, 2, 2, 2, 2])
        XCTAssertEqual(EdgeSnapping.snap(slots: slots, width: 3, height: 2, edges: flat, edgeWidth: 3, edgeHeight: 2,
                                         depth: 0.5, minArea: 7, firstFreeSlot: 9), [-1, -1, -1, -1, -1, -1])
        let void: [Int32] = [-1, -1, 3, -1, -1, -1]
        XCTAssertEqual(EdgeSnapping.snap(slots: void, width: 3, height: 2, edges: flat, edgeWidth: 3, edgeHeight: 2,
                                         depth: 0.5, minArea: 1, firstFreeSlot: 9), [9, 9, 9, 9, 9, 9])
    }
}
