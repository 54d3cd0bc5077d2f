import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

/// A random tiny model whose UNet also takes HED's conditioning maps, end to end against the
/// reference pipeline (`tiny_edges_model` fixture).
final class EdgeConditionedModelTests: XCTestCase {
    func testConditioningAndSamplingMatchTheReference() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_edges_model", withExtension: nil))
        let model = try LDMSegModel(directory: dir.path)
        XCTAssertNotNil(model.edges)
        XCTAssertEqual(model.unet.inChannels, 4 + 4 + 64 + 5)
        let io = try Fixture("tiny_edges_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let run = try Segmenter(model: model).segment(rgb: image.array.map { UInt8($0) }, width: w, height: h,
                                                      options: model.defaultOptions, noise: try io.tensor("__input__.noise"))
        assertClose(run.imageLatent, try io.tensor("__output__.conditioning"), "image latent and HED maps")
        assertClose(run.latent, try io.tensor("__output__.latent"), tolerance: 1e-3, "mask latent after DDIM")
        let expected = try io.tensor("__output__.ids").array.map { UInt32($0) }
        let agree = zip(run.result.ids, expected).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(expected.count), 0.99)
    }

    func testAModelWithoutItsEdgeWeightsNamesTheFile() throws {
        let src = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_edges_model", withExtension: nil))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edges-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: src, to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("edges.safetensors"))
        XCTAssertThrowsError(try LDMSegModel(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("edges.safetensors"), "\(error)")
        }
    }
}
