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
