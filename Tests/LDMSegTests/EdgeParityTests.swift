import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

/// The HED network against its PyTorch twin, and the edge watershed against scikit-image, on
/// fixtures from tools/reference/make_fixtures.py.
final class EdgeParityTests: XCTestCase {
    let ws = Workspace.testing()

    func testHEDMatchesTheTwinOnAnOddSizedPicture() throws {
        let f = try Fixture("hed", in: .module)
        let net = try HEDNetwork(weights: f.weights())
        XCTAssertEqual(net.blocks.map(\.count), [2, 2, 3, 3, 3])
        let rgb = try f.tensor("__input__.rgb")                 // [3, 37, 45]
        let logits = net.logits(rgb: rgb, ws)
        XCTAssertEqual(logits.shape, [6, 37, 45])
        assertClose(logits, try f.tensor("__output__.logits"), "hed")
        // The F(2x2, 3x3) path off: the same within the tolerance.
        let plain = Workspace.testing()
        plain.options.winograd = false
        assertClose(net.logits(rgb: rgb, plain), logits, "hed without Winograd")
    }

    func testHEDNamesAMissingOrMisshapenTensor() throws {
        let f = try Fixture("hed", in: .module)
        XCTAssertThrowsError(try HEDNetwork(weights: f.weights(mountedAt: "x."))) { error in
            XCTAssertEqual(error as? NNError, .missingTensor(name: "block1.0.weight"))
        }
        let store = WeightStore(files: [f.file], exclude: ["__input__.", "__output__.", "fuse."])
        XCTAssertThrowsError(try HEDNetwork(weights: store)) { error in
            XCTAssertEqual(error as? NNError, .missingTensor(name: "fuse.weight"))
        }
    }

    func testMaxPoolRoundsOddSizesUp() {
        let x = Tensor(shape: [1, 3, 3], values: [1, 5, 2, 3, 4, 9, 7, 0, 6])
        XCTAssertEqual(MaxPool2D.pool2x2(x, ws).array, [5, 9, 7, 6])
        XCTAssertEqual(MaxPool2D.pool2x2(x, ws).shape, [1, 2, 2])
    }

    func testWatershedMatchesScikitImage() throws {
        let f = try Fixture("edge_watershed", in: .module)
        let config = f.metadata("config")
        let edges = try f.tensor("__input__.edges"), expected = try f.tensor("__output__.labels")
        let (h, w) = (edges.shape[0], edges.shape[1])
        let labels = EdgeWatershed.regions(edges: edges.array, height: h, width: w,
                                           sigma: config["sigma"] as! Double, depth: config["depth"] as! Double)
        let truth = expected.array.map { Int32($0) }
        XCTAssertEqual(Set(labels).count, Set(truth).count, "region count")
        XCTAssertGreaterThan(Set(truth).count, 3, "the fixture has several regions")
        // Labels are numbered alike (markers in raster order); ties at a basin's rim may flood
        // either way, so a few pixels may differ.
        let agree = zip(labels, truth).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(truth.count), 0.99)
    }

    func testHMinimaKeepsOnlyDeepBasins() {
        // Two basins 0.5 and 0.1 deep, split by a ridge: only the deep one is a marker.
        let row: [Double] = [0.0, 0.0, 0.5, 0.5, 0.4, 0.4, 0.5]
        let minima = EdgeWatershed.hMinima(row, height: 1, width: row.count, depth: 0.3)
        XCTAssertEqual(minima, [true, true, false, false, false, false, false])
        let labels = EdgeWatershed.regions(edges: row.map(Float.init), height: 1, width: row.count, sigma: 0, depth: 0.05)
        XCTAssertEqual(labels, [1, 1, 1, 2, 2, 2, 2])
    }
}

/// A random tiny model whose UNet also takes HED's conditioning maps, end to end against the
/// reference pipeline (`tiny_edges_model` fixture).
final class EdgeConditionedModelTests: XCTestCase {
    func testConditioningAndSamplingMatchTheReference() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_edges_model", withExtension: nil))
        let model = try LDMSegModel(directory: dir.path)
        XCTAssertNotNil(model.edges)
        XCTAssertEqual(model.unet.inChannels, 4 + 8 + 64 + 5)
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
