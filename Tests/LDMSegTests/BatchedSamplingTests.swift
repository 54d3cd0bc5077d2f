import Foundation
import NNRuntime
import TestSupport
import XCTest
@testable import LDMSeg

/// Runs that step together through one UNet pass (an ensemble, or several jobs) get what they
/// would get alone, up to float reassociation inside the batch's larger matrix products.
final class BatchedSamplingTests: XCTestCase {
    func defaultModel() throws -> LDMSegModel { try LDMSegModel(directory: DefaultModelTests.directory) }

    func testBatchedUNetMatchesMapByMapAtMixedTimesteps() throws {
        let unet = try defaultModel().unet
        var noise = GaussianNoise(seed: 21)
        let items = (0..<3).map { _ in noise.tensor([unet.inChannels, 32, 32]) }
        let timesteps: [Float] = [999, 524, 24]
        for precision in [Precision.fp32, .bf16] {
            let ws = Workspace.testing { $0.precision = precision }
            let batched = unet(Tensor.batch(items), timesteps: timesteps, ws)          // [4, 3, 32, 32]
            XCTAssertEqual(batched.shape, [unet.outChannels, 3, 32, 32])
            for (i, item) in items.enumerated() {
                let alone = unet(item, timestep: timesteps[i], ws)
                let out = batched.item(i)
                var diff: Float = 0, scale: Float = 0
                for j in 0..<alone.count { diff = max(diff, abs(out[j] - alone[j])); scale = max(scale, abs(alone[j])) }
                XCTAssertLessThan(diff / scale, precision == .fp32 ? 1e-5 : 2e-2, "\(precision) map \(i) at t=\(timesteps[i])")
            }
        }
    }

    func testBatchedEnsembleSegmentsAsRunByRun() throws {
        let model = try defaultModel()
        let io = try Fixture("default_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let rgb = image.array.map { UInt8($0) }
        var options = model.defaultOptions
        options.steps = 10
        options.resolution = 128
        XCTAssertEqual(options.ensemble.runs, 4)
        // All four runs in one batch, against one at a time and a batch of three then one.
        let results = try [4, 1, 3].map {
            try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing, maxBatch: $0)).segment(rgb: rgb, width: w, height: h, options: options)
        }
        for other in results.dropFirst() {
            let same = zip(results[0].ids, other.ids).filter { $0 == $1 }.count
            XCTAssertGreaterThanOrEqual(Double(same) / Double(other.ids.count), 0.99, "\(same)/\(other.ids.count) pixels agree")
        }
        XCTAssertGreaterThanOrEqual(Set(results[0].ids).count, 2, "segments: \(Set(results[0].ids))")
    }
}

/// Runs of different jobs share a batch while at different steps.
extension EnsembleTests {
    /// The tiny model's segmenter, a frame of a 32x24 image and its default options at `steps`.
    func tinyStepping(steps: Int) throws -> (Segmenter, Segmenter.Frame, SegmentationOptions) {
        let model = try tinyModel()
        let segmenter = Segmenter(model: model)
        let frame = try segmenter.prepare(rgb: image(width: 32, height: 24), width: 32, height: 24,
                                          options: model.defaultOptions)
        var options = model.defaultOptions
        options.steps = steps
        return (segmenter, frame, options)
    }

    /// Each run ended where its twin, stepped alone, ended.
    /// Runs on the tiny model from one noise (`seed`), each with `option` set to one of `values`.
    func runsFromOneNoise<V>(steps: Int, seed: UInt64, _ option: WritableKeyPath<SegmentationOptions, V>,
                             _ values: [V]) throws -> (Segmenter, [DenoisingRun]) {
        let (segmenter, frame, options) = try tinyStepping(steps: steps)
        var noise = GaussianNoise(seed: seed)
        let start = noise.tensor(frame.latentShape)
        return (segmenter, values.map { value in
            var o = options
            o[keyPath: option] = value
            return segmenter.run(noise: start.copy(), frame: frame, known: nil, options: o)
        })
    }

    /// The largest elementwise difference of two runs' latents.
    func largestDifference(_ a: DenoisingRun, _ b: DenoisingRun) -> Float {
        zip(a.x.array, b.x.array).map { abs($0 - $1) }.max()!
    }

    func assertSameLatents(_ pairs: [(DenoisingRun, DenoisingRun)], line: UInt = #line) {
        for (a, b) in pairs {
            for j in 0..<a.x.count { XCTAssertEqual(a.x[j], b.x[j], accuracy: 1e-4 * max(1, abs(b.x[j])), line: line) }
        }
    }

    func testRunsAtDifferentStepsShareABatch() throws {
        let (segmenter, frame, options) = try tinyStepping(steps: 4)
        var noise = GaussianNoise(seed: 5)
        let (first, second) = (noise.tensor(frame.latentShape), noise.tensor(frame.latentShape))
        let make = { (x: Tensor) in segmenter.run(noise: x.copy(), frame: frame, known: nil, options: options) }
        let (early, late, earlyAlone, lateAlone) = (make(first), make(second), make(first), make(second))
        segmenter.step([late])
        segmenter.step([lateAlone])
        // `late` is one step ahead when the two share a batch; each must end where it ends alone.
        while !early.isFinished {
            segmenter.step([early, late].filter { !$0.isFinished })
        }
        while !earlyAlone.isFinished { segmenter.step([earlyAlone]) }
        while !lateAlone.isFinished { segmenter.step([lateAlone]) }
        XCTAssertTrue(late.isFinished)
        assertSameLatents([(early, earlyAlone), (late, lateAlone)])
    }

    /// DeepCache runs between full passes share a step with runs due a full pass (one pass of
    /// each kind) and end where they end alone; an interval of 1 is the plain sampler.
    func testDeepCacheRunsShareAStepWithFullRuns() throws {
        let (segmenter, runs) = try runsFromOneNoise(steps: 6, seed: 6, \.deepCache, [3, 1, 3, 1])
        let (cached, plain, cachedAlone, plainAlone) = (runs[0], runs[1], runs[2], runs[3])
        segmenter.step([cached])
        segmenter.step([cachedAlone])
        // From here `cached` steps beside `plain` one step behind: their passes differ in kind.
        while !cached.isFinished {
            XCTAssertEqual(cached.needsFullPass, cached.completed % 3 == 0)
            let before = cached.completed
            segmenter.step([cached, plain].filter { !$0.isFinished })
            XCTAssertEqual(cached.completed, before + 1, "one step per call, whichever pass it takes")
        }
        while !plain.isFinished { segmenter.step([plain]) }
        for r in [cachedAlone, plainAlone] { while !r.isFinished { segmenter.step([r]) } }
        assertSameLatents([(cached, cachedAlone), (plain, plainAlone)])
        XCTAssertNil(plain.deep, "interval 1 never caches")
        XCTAssertGreaterThan(largestDifference(cached, plain), 1e-4, "shallow passes ran")
    }

    /// Runs with different token merging ratios share a step (one pass per ratio) and end
    /// where they end alone.
    func testRunsWithDifferentTokenMergingShareAStep() throws {
        let (segmenter, runs) = try runsFromOneNoise(steps: 3, seed: 7, \.tokenMerging, [0.5, 0, 0.5, 0])
        let (merged, plain, mergedAlone, plainAlone) = (runs[0], runs[1], runs[2], runs[3])
        while !merged.isFinished { segmenter.step([merged, plain]) }
        for r in [mergedAlone, plainAlone] { while !r.isFinished { segmenter.step([r]) } }
        assertSameLatents([(merged, mergedAlone), (plain, plainAlone)])
        XCTAssertGreaterThan(largestDifference(merged, plain), 1e-4, "each run's tokens merged as it asked")
    }
}
