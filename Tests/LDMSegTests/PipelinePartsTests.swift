import XCTest
@testable import LDMSeg
import NNRuntime

final class PipelinePartsTests: XCTestCase {
    func testBitEncodingMapsBitsToPlusMinusOneAndVoidToZero() {
        let t = BitEncoding.encode(slots: [0, 1, 5, 127], width: 4, height: 1, bits: 7)
        XCTAssertEqual(t.shape, [7, 1, 4])
        XCTAssertEqual((0..<7).map { t.data[$0 * 4] }, [0, 0, 0, 0, 0, 0, 0], "void")
        XCTAssertEqual((0..<7).map { t.data[$0 * 4 + 1] }, [1, -1, -1, -1, -1, -1, -1], "slot 1")
        XCTAssertEqual((0..<7).map { t.data[$0 * 4 + 2] }, [1, -1, 1, -1, -1, -1, -1], "slot 5")
        XCTAssertEqual((0..<7).map { t.data[$0 * 4 + 3] }, [1, 1, 1, 1, 1, 1, 1], "slot 127")
    }

    func testSlotRemappingRoundTripsKnownIdsAndAvoidsCollisions() throws {
        let ids: [UInt32] = [0, 500, 500, 70_000, 9]
        let known = [false, true, true, true, false]
        let r = try SlotRemapping(ids: ids, known: known, capacity: 127)
        XCTAssertEqual(r.slots(ids, known: known), [0, 1, 1, 2, 0])
        let back = r.ids(forSlots: [-1, 1, 2, 3, 3])
        XCTAssertEqual(Array(back[0..<3]), [0, 500, 70_000])
        XCTAssertEqual(back[3], back[4])
        XCTAssertFalse([500, 70_000].contains(back[3]), "new segments never reuse a known id")
        XCTAssertThrowsError(try SlotRemapping(ids: Array(1...200).map(UInt32.init), known: Array(repeating: true, count: 200), capacity: 127))
    }

    func testPanopticResultDescribesSegments() {
        let r = PanopticResult(width: 3, height: 2, ids: [0, 7, 7, 2, 0, 7])
        XCTAssertEqual(r.segments.map(\.id), [2, 7])
        XCTAssertEqual(r.segments[1].area, 3)
        XCTAssertEqual(r.segments[1].bbox, [1, 0, 2, 2])
        XCTAssertEqual(r.segments[0].bbox, [0, 1, 1, 1])
    }

    func testOptionsValidationNamesTheOption() {
        var o = SegmentationOptions(steps: 0, seed: 1, resolution: 512, postProcessing: PostProcessingOptions())
        XCTAssertThrowsError(try o.validate()) { error in
            guard case LDMSegError.invalidOption(name: "steps", _, _) = error else { return XCTFail("\(error)") }
        }
        o.steps = 10
        o.postProcessing.maskThreshold = 1.5
        XCTAssertThrowsError(try o.validate()) { error in
            guard case LDMSegError.invalidOption(name: "mask_th", _, _) = error else { return XCTFail("\(error)") }
        }
    }
}
