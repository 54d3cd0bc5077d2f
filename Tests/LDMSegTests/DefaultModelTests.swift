import Foundation
import NNRuntime
import TestSupport
import XCTest
@testable import LDMSeg

/// The embedded default model loads and segments as the PyTorch reference does with the same
/// weights and noise (`Fixtures/default_model_io`); the tiny model's parity test covers inpainting.
final class DefaultModelTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/default").path

    func testSegmentsAsThePyTorchReference() throws {
        let model = try LDMSegModel(directory: Self.directory)
        XCTAssertEqual(model.imageEncoder.latentChannels, 32)
        XCTAssertEqual(model.unet.inChannels, 36)
        XCTAssertEqual(model.defaultOptions.ensemble, Ensemble(seeds: 2, flip: true))  // config.json's defaults
        let io = try Fixture("default_model_io", in: .module)
        let config = io.metadata("config")
        var options = model.defaultOptions
        options.ensemble = Ensemble()
        options.steps = try XCTUnwrap(config["steps"] as? Int)
        options.resolution = try XCTUnwrap(config["resolution"] as? Int)
        options.postProcessing.maskThreshold = Float(try XCTUnwrap(config["mask_th"] as? Double))
        options.postProcessing.countThreshold = try XCTUnwrap(config["count_th"] as? Int)
        options.postProcessing.overlapThreshold = Float(try XCTUnwrap(config["overlap_th"] as? Double))
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let run = try Segmenter(model: model).segment(rgb: image.array.map { UInt8($0) }, width: w, height: h,
                                                      options: options, noise: try io.tensor("__input__.noise"))
        assertClose(run.imageLatent, try io.tensor("__output__.image_latent"), "image latent")
        assertClose(run.latent, try io.tensor("__output__.latent"), tolerance: 1e-3, "mask latent after DDIM")
        let expected = try io.tensor("__output__.ids").array.map { UInt32($0) }
        let same = zip(run.result.ids, expected).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(same) / Double(expected.count), 0.99, "\(same)/\(expected.count) pixels agree")
        XCTAssertGreaterThanOrEqual(Set(expected).count, 4, "the reference run has several segments")
    }

    /// The default UNet has no transformers at its top level: token merging applies at the first
    /// level that has them (16x16 maps here), and merges there.
    func testTokenMergingReachesTheFirstLevelWithTransformers() throws {
        let model = try LDMSegModel(directory: Self.directory)
        var noise = GaussianNoise(seed: 3)
        let x = noise.tensor([model.unet.inChannels, 32, 32]), ws = Workspace.testing()
        let plain = model.unet.pass(x, timesteps: [500], reusing: nil, ws).eps
        let merged = model.unet.pass(x, timesteps: [500], reusing: nil, tokenMerging: 0.5, ws).eps
        XCTAssertGreaterThan(zip(plain.array, merged.array).map { abs($0 - $1) }.max()!, 1e-4)
    }
}
