import Foundation
import XCTest
@testable import LDMSeg
import NNRuntime

final class EnsembleTests: XCTestCase {
    func testSingleRunEnsembleIsByteIdenticalToThePlainPath() throws {
        let model = try tinyModel()
        let rgb = image(width: 40, height: 28)
        var options = model.defaultOptions
        options.seed = 7
        let plain = try Segmenter(model: model).segment(rgb: rgb, width: 40, height: 28, options: options)
        options.ensemble = Ensemble(seeds: 1, flip: false)
        XCTAssertEqual(try Segmenter(model: model).segment(rgb: rgb, width: 40, height: 28, options: options), plain)
        // The averaging path itself, forced with one run, gives the same bytes too.
        let averaged = try Segmenter(model: model).segmentEnsemble(rgb: rgb, width: 40, height: 28, options: options,
                                                                   progress: { _, _ in }, isCancelled: { false })
        XCTAssertEqual(averaged.ids, plain.ids)
        XCTAssertEqual(averaged, plain)
    }

    func testEnsembleIsDeterministicAndCountsEveryRunsSteps() throws {
        let model = try tinyModel()
        let rgb = image(width: 36, height: 30, symmetric: true)
        var options = model.defaultOptions
        options.seed = 3
        options.ensemble = Ensemble(seeds: 2, flip: true)
        var steps: [Int] = []
        var totals = Set<Int>()
        let a = try Segmenter(model: model).segment(rgb: rgb, width: 36, height: 30, options: options,
                                                    progress: { steps.append($0); totals.insert($1) })
        // The four runs step together, one batch per DDIM step.
        XCTAssertEqual(steps, Array(stride(from: 4, through: 4 * options.steps, by: 4)))
        XCTAssertEqual(totals, [4 * options.steps])
        steps = []
        _ = try Segmenter(model: model, runtime: RuntimeOptions(maxBatch: 1)).segment(rgb: rgb, width: 36, height: 30, options: options,
                                                                               progress: { steps.append($0); totals.insert($1) })
        XCTAssertEqual(steps, Array(1...(4 * options.steps)), "one run after another")
        XCTAssertEqual(totals, [4 * options.steps])
        let b = try Segmenter(model: model).segment(rgb: rgb, width: 36, height: 30, options: options)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.ids.count, 36 * 30)

        options.ensemble = Ensemble(seeds: 1, flip: true)
        let flipped = try Segmenter(model: model).segment(rgb: rgb, width: 36, height: 30, options: options)
        XCTAssertEqual(try Segmenter(model: model).segment(rgb: rgb, width: 36, height: 30, options: options), flipped)
    }

    func testMirroringHelpers() {
        let rgb: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]           // 2x2
        XCTAssertEqual(Segmenter.mirrored(rgb: rgb, width: 2, height: 2), [4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9])
        let t = Tensor(shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Segmenter.mirrored(t).array, [3, 2, 1, 6, 5, 4])
        XCTAssertEqual(Segmenter.mirrored(Segmenter.mirrored(t)).array, t.array)
    }

    func testInpaintingRejectsEnsembles() throws {
        let model = try tinyModel()
        let rgb = image(width: 20, height: 20)
        var options = model.defaultOptions
        options.ensemble = Ensemble(seeds: 2)
        let partial = [UInt32](repeating: 0, count: 400)
        XCTAssertThrowsError(try Segmenter(model: model).inpaint(rgb: rgb, width: 20, height: 20, partial: partial, options: options)) {
            guard case LDMSegError.invalidOption(name: "ensemble", _, _) = $0 else { return XCTFail("\($0)") }
        }
    }

    func testEnsembleValidationAndDecodingWithoutTheField() throws {
        var o = SegmentationOptions(steps: 4, seed: 1, resolution: 64, postProcessing: PostProcessingOptions())
        XCTAssertEqual(o.ensemble, Ensemble(seeds: 1, flip: false))
        o.ensemble.seeds = 0
        XCTAssertThrowsError(try o.validate()) {
            guard case LDMSegError.invalidOption(name: "ensemble_seeds", _, _) = $0 else { return XCTFail("\($0)") }
        }
        o.ensemble = Ensemble(seeds: 3, flip: true)
        XCTAssertEqual(o.ensemble.runs, 6)
        XCTAssertEqual(try JSONDecoder().decode(SegmentationOptions.self, from: JSONEncoder().encode(o)), o)
        let old = #"{"steps":4,"seed":1,"resolution":64,"postProcessing":{"mask_th":0.5,"count_th":512,"overlap_th":0.5}}"#
        XCTAssertEqual(try JSONDecoder().decode(SegmentationOptions.self, from: Data(old.utf8)).ensemble, Ensemble())
    }
}

final class SlotMatchingTests: XCTestCase {
    func testRelabelledMapsMatchExactly() {
        let reference: [Int32] = [0, 0, 1, 1, 2, 2]
        let candidate: [Int32] = [5, 5, 3, 3, 0, 0]
        let p = SlotMatching.permutation(reference: reference, candidate: candidate, slots: 6)
        XCTAssertEqual(p[5], 0)
        XCTAssertEqual(p[3], 1)
        XCTAssertEqual(p[0], 2)
        XCTAssertEqual(p[4], 4, "an unmatched slot keeps its free index")
        XCTAssertEqual(Set(p), Set(0..<6), "a permutation")
        XCTAssertEqual(p, [2, 3, 5, 1, 4, 0])
        XCTAssertEqual(candidate.map { Int32(p[Int($0)]) }, reference)
    }

    func testHighestIoUWinsAndVoidIsIgnored() {
        // Reference slot 1 covers pixels 0..<6; candidate slot 2 covers 0..<5 (IoU 5/6), candidate
        // slot 0 covers 5..<8 (IoU 1/8 with slot 1); reference slot 3 covers 6..<8.
        let reference: [Int32] = [1, 1, 1, 1, 1, 1, 3, 3, -1, -1]
        let candidate: [Int32] = [2, 2, 2, 2, 2, 0, 0, 0, -1, 1]
        let p = SlotMatching.permutation(reference: reference, candidate: candidate, slots: 4)
        XCTAssertEqual(p[2], 1)
        XCTAssertEqual(p[0], 3, "slot 1 is taken by the better match, so candidate 0 goes to reference 3")
        XCTAssertEqual(p[1], 0, "candidate 1 overlaps only void: lowest free index")
        XCTAssertEqual(Set(p), Set(0..<4))
    }

    func testIdentityWhenSlotsAgree() {
        let map: [Int32] = [0, 1, 2, 2, 3, -1, 1]
        XCTAssertEqual(SlotMatching.permutation(reference: map, candidate: map, slots: 8), Array(0..<8))
    }

    func testArgmaxTakesTheFirstMaximum() {
        let logits = Tensor(shape: [3, 1, 3], values: [1, 5, 0,  2, 5, 0,  0, 1, 0])
        XCTAssertEqual(SlotMatching.argmax(logits), [1, 0, 0])
    }
}
