import Foundation
import NNRuntime
import TestSupport
import XCTest
@testable import LDMSeg

/// `Precision.bf16` and `.int8` on the default model: the UNet's output stays within a bounded
/// distance of fp32 (itself within 1e-4 of PyTorch), and a segmentation agrees with fp32's on
/// nearly every pixel. On a CPU without a precision's instructions it runs as its fallback
/// (`RuntimeOptions.effectivePrecision`), so the results must be the fallback's exactly.
final class PrecisionTests: XCTestCase {
    func testDefaultUNetStaysWithinTheBF16Bound() throws {
        try assertUNet(.bf16, largest: 3e-2, mean: 3e-3)
    }

    /// int8's bound is close to bf16's.
    func testDefaultUNetStaysWithinTheInt8Bound() throws {
        try assertUNet(.int8, largest: 4e-2, mean: 4e-3)
    }

    func testSegmentationAgreesWithFP32() throws {
        try assertSegmentationAgrees(.bf16)
    }

    func testInt8SegmentationAgreesWithFP32() throws {
        try assertSegmentationAgrees(.int8)
    }

    /// The UNet in `precision` against fp32: the largest and the mean difference, relative to
    /// the largest output, under the bounds (and the mean above rounding noise: its products ran).
    func assertUNet(_ precision: Precision, largest: Float, mean bound: Float, line: UInt = #line) throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        var noise = GaussianNoise(seed: 3)
        let x = noise.tensor([model.unet.inChannels, 32, 32])
        let fp32 = model.unet(x, timestep: 500, Workspace.testing())
        let out = model.unet(x, timestep: 500, Workspace.testing { $0.precision = precision })
        let runs = RuntimeOptions(precision: precision).effectivePrecision
        guard runs == precision else {
            let fallback = runs == .fp32 ? fp32 : model.unet(x, timestep: 500, Workspace.testing { $0.precision = runs })
            return XCTAssertEqual(out.array, fallback.array, "\(precision) runs as \(runs)", line: line)
        }
        let scale = fp32.array.map { abs($0) }.max()!
        let diffs = zip(out.array, fp32.array).map { abs($0 - $1) / scale }
        let mean = diffs.reduce(0, +) / Float(diffs.count)
        XCTAssertLessThan(diffs.max()!, largest, "\(precision): largest difference, relative to the largest output", line: line)
        XCTAssertLessThan(mean, bound, "\(precision): mean difference, relative to the largest output", line: line)
        XCTAssertGreaterThan(mean, 1e-6, "\(precision) products ran", line: line)
    }

    /// A 5-step single-run segmentation in `precision` agrees with fp32's on at least 97% of
    /// pixels, or on all of them where `precision` runs as fp32.
    func assertSegmentationAgrees(_ precision: Precision, line: UInt = #line) throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        let io = try Fixture("default_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let rgb = image.array.map { UInt8($0) }
        var options = model.defaultOptions
        options.ensemble = Ensemble()
        options.steps = 5
        let fp32 = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        options.precision = precision
        let out = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        let same = zip(out.ids, fp32.ids).filter { $0 == $1 }.count
        let floor = RuntimeOptions(precision: precision).effectivePrecision == .fp32 ? 1 : 0.97
        XCTAssertGreaterThanOrEqual(Double(same) / Double(fp32.ids.count), floor, "\(precision): \(same)/\(fp32.ids.count) pixels agree",
                                    line: line)
    }
}
