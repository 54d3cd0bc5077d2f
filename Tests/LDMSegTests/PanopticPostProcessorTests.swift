import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

final class PanopticPostProcessorTests: XCTestCase {
    /// Logits [S, h, w]: `winner[i]` at `margin`, every other slot at -10 (sigmoid ~ 0).
    func logits(slots: Int, width: Int, height: Int, winner: [Int], margin: Float) -> Tensor {
        let n = width * height
        let t = Tensor(shape: [slots, height, width], repeating: -10)
        for i in 0..<n { t.data[winner[i] * n + i] = margin }
        return t
    }

    func testConfidentSlotsSurviveAndWeakPixelsAreVoid() {
        // 4x4 map, left half slot 3, right half slot 5; one pixel barely above the others.
        var winner = (0..<16).map { ($0 % 4) < 2 ? 3 : 5 }
        winner[15] = 7
        let t = logits(slots: 8, width: 4, height: 4, winner: winner, margin: 20)
        for k in 0..<8 { t.data[k * 16 + 15] = 0 }  // uniform at pixel 15: max prob 1/8 -> void
        let p = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: 2, overlapThreshold: 0.5))
        let slots = p.slots(logits: t, height: 4, width: 4, .testing())
        XCTAssertEqual(slots[0], 3)
        XCTAssertEqual(slots[3], 5)
        XCTAssertEqual(slots[15], -1)
        XCTAssertEqual(slots.filter { $0 == 3 }.count, 8)
    }

    func testTheVoidSlotIsVoid() {
        let winner = (0..<16).map { ($0 % 4) < 2 ? 0 : 5 }
        let t = logits(slots: 8, width: 4, height: 4, winner: winner, margin: 20)
        let options = PostProcessingOptions(maskThreshold: 0.5, countThreshold: 1, overlapThreshold: 0.5)
        XCTAssertEqual(PanopticPostProcessor(options: options).slots(logits: t, height: 4, width: 4, .testing()).filter { $0 == 0 }.count, 8)
        let slots = PanopticPostProcessor(options: options, voidSlot: 0).slots(logits: t, height: 4, width: 4, .testing())
        XCTAssertEqual(slots.filter { $0 == -1 }.count, 8)
        XCTAssertEqual(slots.filter { $0 == 5 }.count, 8)
    }

    func testCountThresholdDropsSmallSegments() {
        var winner = [Int](repeating: 1, count: 16)
        winner[0] = 2
        let t = logits(slots: 4, width: 4, height: 4, winner: winner, margin: 20)
        let p = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: 2, overlapThreshold: 0.5))
        let slots = p.slots(logits: t, height: 4, width: 4, .testing())
        XCTAssertEqual(slots[0], -1, "a 1-pixel segment is below count_th 2")
        XCTAssertEqual(slots[1], 1)
    }

    func testOverlapThresholdDropsSlotsMostlyCoveredByOthers() {
        // Slot 2 wins 4 pixels, but its own sigmoid is high on all 16: 4/16 < 0.5.
        let winner = (0..<16).map { $0 < 4 ? 2 : 1 }
        let t = logits(slots: 4, width: 4, height: 4, winner: winner, margin: 20)
        for i in 4..<16 { t.data[2 * 16 + i] = 5 }  // sigmoid(5) > 0.5, still below slot 1's 20
        let p = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: 1, overlapThreshold: 0.5))
        let slots = p.slots(logits: t, height: 4, width: 4, .testing())
        XCTAssertEqual(Array(slots[0..<4]), [-1, -1, -1, -1])
        XCTAssertEqual(slots[8], 1)
    }

    func testBilinearUpsamplingToOutputSize() {
        let t = logits(slots: 3, width: 2, height: 2, winner: [1, 2, 1, 2], margin: 20)
        let p = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: 1, overlapThreshold: 0))
        let slots = p.slots(logits: t, height: 4, width: 4, .testing())
        XCTAssertEqual(slots[0], 1)
        XCTAssertEqual(slots[3], 2)
        XCTAssertEqual(slots.count, 16)
    }

    /// Past `maxWorkPixels` the slots are found at a smaller size and upsampled once: nearly the
    /// same map as pixel by pixel, and count_th still counts output pixels.
    func testLargeOutputsArePostProcessedAtABoundedSize() {
        let (h, w) = (24, 32)  // smooth random logits: a map with boundaries everywhere
        let t = Tensor(shape: [6, h, w])
        var generator = SplitMix64(seed: 1)
        for i in 0..<t.count { t.data[i] = Float.random(in: -4...4, using: &generator) }
        let (height, width) = (1500, 1000)  // 1.5 M pixels: above the bound
        XCTAssertGreaterThan(height * width, PanopticPostProcessor.maxWorkPixels)
        let p = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.2, countThreshold: 1, overlapThreshold: 0))
        let bounded = p.slots(logits: t, height: height, width: width, .testing())
        let exact = p.exactSlots(logits: t, height: height, width: width, .testing())
        let agree = zip(bounded, exact).filter { $0 == $1 }.count
        XCTAssertGreaterThan(Double(agree) / Double(exact.count), 0.97)
        XCTAssertEqual(p.ids(logits: t, height: height, width: width, .testing()).ids, bounded.map { $0 < 0 ? 0 : UInt32($0) + 1 },
                       "ids are the slots plus one, void 0")
        XCTAssertEqual(p.ids(logits: t, height: h, width: w, .testing()).ids,
                       p.slots(logits: t, height: h, width: w, .testing()).map { $0 < 0 ? 0 : UInt32($0) + 1 }, "below the bound too")
        // A slot holding a fifth of the image survives a count_th of a tenth of the output's
        // pixels, which is more pixels than the reduced map has in all.
        let halves = logits(slots: 4, width: 5, height: 1, winner: [1, 2, 2, 2, 2], margin: 20)
        let counted = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: height * width / 10, overlapThreshold: 0))
        let slots = counted.slots(logits: halves, height: height, width: width, .testing())
        XCTAssertTrue(slots.contains(1) && slots.contains(2))
        let strict = PanopticPostProcessor(options: PostProcessingOptions(maskThreshold: 0.5, countThreshold: height * width / 4, overlapThreshold: 0))
        XCTAssertFalse(strict.slots(logits: halves, height: height, width: width, .testing()).contains(1), "a fifth is under a quarter")
    }
}
