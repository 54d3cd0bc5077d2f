import Foundation
import NNRuntime
import TestSupport
import XCTest
@testable import LDMSeg

/// `Precision.bf16` and `.int8` on the default model: the UNet's output stays within a bounded
/// distance of fp32 (itself within 1e-4 of PyTorch), and a segmentation agrees with fp32's on
/// nearly every pixel. On CPUs without AVX512-BF16 bf16 runs as fp32, so the results must be
/// identical.
final class PrecisionTests: XCTestCase {
    func testDefaultUNetStaysWithinTheBF16Bound() throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        var noise = GaussianNoise(seed: 3)
        let x = noise.tensor([model.unet.inChannels, 32, 32])
        let fp32 = model.unet(x, timestep: 500, Workspace.testing())
        let bf16 = model.unet(x, timestep: 500, Workspace.testing { $0.precision = .bf16 })
        guard RuntimeOptions.bf16Supported else { return XCTAssertEqual(bf16.array, fp32.array) }
        let scale = fp32.array.map { abs($0) }.max()!
        let diffs = zip(bf16.array, fp32.array).map { abs($0 - $1) / scale }
        let mean = diffs.reduce(0, +) / Float(diffs.count)
        XCTAssertLessThan(diffs.max()!, 3e-2, "largest difference, relative to the largest output")
        XCTAssertLessThan(mean, 3e-3, "mean difference, relative to the largest output")
        XCTAssertGreaterThan(mean, 1e-6, "bf16 products ran")
    }

    func testSegmentationAgreesWithFP32() throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        let io = try Fixture("default_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let rgb = image.array.map { UInt8($0) }
        var options = model.defaultOptions
        options.ensemble = Ensemble()
        options.steps = 5
        let fp32 = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        options.precision = .bf16
        let bf16 = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        let same = zip(bf16.ids, fp32.ids).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(same) / Double(fp32.ids.count), RuntimeOptions.bf16Supported ? 0.97 : 1,
                                    "\(same)/\(fp32.ids.count) pixels agree")
    }

    /// `Precision.int8` on the default model: the UNet within a bound close to bf16's, and a
    /// segmentation agreeing with fp32's on nearly every pixel; without AVX512-VNNI, exactly what
    /// its fallback gives.
    func testDefaultUNetStaysWithinTheInt8Bound() throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        var noise = GaussianNoise(seed: 3)
        let x = noise.tensor([model.unet.inChannels, 32, 32])
        let fp32 = model.unet(x, timestep: 500, Workspace.testing())
        let int8 = model.unet(x, timestep: 500, Workspace.testing { $0.precision = .int8 })
        guard RuntimeOptions.int8Supported else {
            let fallback = model.unet(x, timestep: 500, Workspace.testing { $0.precision = RuntimeOptions.bf16Supported ? .bf16 : .fp32 })
            return XCTAssertEqual(int8.array, fallback.array)
        }
        let scale = fp32.array.map { abs($0) }.max()!
        let diffs = zip(int8.array, fp32.array).map { abs($0 - $1) / scale }
        let mean = diffs.reduce(0, +) / Float(diffs.count)
        XCTAssertLessThan(diffs.max()!, 4e-2, "largest difference, relative to the largest output")
        XCTAssertLessThan(mean, 4e-3, "mean difference, relative to the largest output")
        XCTAssertGreaterThan(mean, 1e-6, "int8 products ran")
    }

    func testInt8SegmentationAgreesWithFP32() throws {
        let model = try LDMSegModel(directory: DefaultModelTests.directory)
        let io = try Fixture("default_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let rgb = image.array.map { UInt8($0) }
        var options = model.defaultOptions
        options.ensemble = Ensemble()
        options.steps = 5
        let fp32 = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        options.precision = .int8
        let int8 = try Segmenter(model: model, runtime: RuntimeOptions(pool: .testing)).segment(rgb: rgb, width: w, height: h, options: options)
        let same = zip(int8.ids, fp32.ids).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(same) / Double(fp32.ids.count), 0.97, "\(same)/\(fp32.ids.count) pixels agree")
    }
}
