import Foundation
import XCTest
@testable import NNRuntime

/// Weights read from a model file stay in its mapping until a float32 product needs them:
/// bf16 and int8 products pack them from a decode they drop, with the same results as packs
/// made from weights held in memory.
final class ParameterTests: XCTestCase {
    let pool = ComputePool(threads: 2)
    override func tearDown() { pool.shutdown() }

    func testFileWeightsAreDecodedOnlyForFloat32Products() throws {
        var noise = GaussianNoise(seed: 31)
        // A 3x3 conv on a 32x32 map (Winograd F(2x2): 96 input channels are past the fused
        // F(4x4) kernel's), a 1x1 conv and a linear layer.
        let shapes = ["conv3": [64, 96, 3, 3], "conv1": [48, 96, 1, 1], "linear": [80, 96]]
        let values = shapes.mapValues { noise.tensor($0).array.map { $0 * 0.1 } }
        let path = NSTemporaryDirectory() + "parameters-\(UUID().uuidString).safetensors"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter(dtype: .f16).write(shapes.map { .init(name: $0.key, shape: $0.value) }, to: path) { values[$0.name]! }
        let file = try SafeTensorsFile(path: path)

        /// The three layers on `parameter(name)`, and their outputs for one input in `precision`.
        func layers(_ parameter: (String) throws -> Parameter) throws -> [Parameter] {
            try ["conv3", "conv1", "linear"].map(parameter)
        }
        func run(_ p: [Parameter], _ precision: Precision, _ x: Tensor, _ tokens: Tensor) -> [[Float]] {
            let ws = Workspace(options: RuntimeOptions(pool: pool, precision: precision))
            return [Conv2D(weight: p[0], bias: nil, padding: .same(1))(x, ws).array,
                    Conv2D(weight: p[1], bias: nil, padding: .zero)(x, ws).array,
                    Linear(weight: p[2], bias: nil)(tokens, ws).array]
        }
        let lazy = try layers(file.parameter)
        let held = try layers { Parameter(try file.tensor($0)) }
        XCTAssertEqual(lazy.map(\.shape), held.map(\.shape))
        XCTAssertFalse(lazy.contains { $0.isResident }, "nothing is decoded at load")
        let x = noise.tensor([96, 32, 32]), tokens = noise.tensor([100, 96])

        var packed: [Precision] = []
        if RuntimeOptions.bf16Supported { packed.append(.bf16) }
        if RuntimeOptions.int8Supported { packed.append(.int8) }
        for precision in packed {
            for _ in 0..<2 {  // the first run packs, the second reuses the packs
                XCTAssertEqual(run(lazy, precision, x, tokens), run(held, precision, x, tokens), "\(precision)")
            }
            XCTAssertFalse(lazy.contains { $0.isResident }, "\(precision) products keep packs, not float32 weights")
        }
        XCTAssertEqual(run(lazy, .fp32, x, tokens), run(held, .fp32, x, tokens))
        XCTAssertEqual(lazy.map(\.isResident), [false, true, true],
                       "float32 products keep what they decode: the 3x3 conv its Winograd transform, not its kernels")
    }

    func testDerivedParametersDecodeTheirSourceOnce() {
        let source = Parameter(shape: [2]) { Tensor(shape: [2], values: [1, 2]) }
        let doubled = source.derived(shape: [2]) { t in Tensor(shape: [2], values: t.array.map { 2 * $0 }) }
        XCTAssertEqual(doubled.transient(\.array), [2, 4])
        XCTAssertFalse(doubled.isResident)
        XCTAssertEqual(doubled.floats.array, [2, 4])
        XCTAssertTrue(doubled.isResident)
        XCTAssertFalse(source.isResident, "a kept transform leaves its source in the file")
    }

    func testRewritingAModelFileLeavesTheOldMappingWhole() throws {
        let path = NSTemporaryDirectory() + "rewrite-\(UUID().uuidString).safetensors"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        let writer = SafeTensorsWriter(dtype: .f16), items = [SafeTensorsWriter.Item(name: "w", shape: [3])]
        try writer.write(items, to: path) { _ in [1, 2, 3] }
        let old = try SafeTensorsFile(path: path).parameter("w")
        try writer.write(items, to: path) { _ in [4, 5, 6] }
        XCTAssertEqual(old.transient(\.array), [1, 2, 3], "a server's mapping keeps the file it opened")
        XCTAssertEqual(try SafeTensorsFile(path: path).tensor("w").array, [4, 5, 6])

        struct Interrupted: Error {}
        XCTAssertThrowsError(try writer.write(items, to: path) { (_) throws(Interrupted) in throw Interrupted() })
        XCTAssertEqual(try SafeTensorsFile(path: path).tensor("w").array, [4, 5, 6], "a failed write leaves the last whole file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".partial"))
    }
}
