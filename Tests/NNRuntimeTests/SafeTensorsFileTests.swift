import Foundation
import XCTest
@testable import NNRuntime

final class SafeTensorsFileTests: XCTestCase {
    /// Writes a safetensors file from a raw header object and data bytes.
    func write(header: Any, data: [UInt8], headerLengthOverride: UInt64? = nil) throws -> String {
        let json = try JSONSerialization.data(withJSONObject: header)
        var bytes = [UInt8]()
        var len = (headerLengthOverride ?? UInt64(json.count)).littleEndian
        withUnsafeBytes(of: &len) { bytes += $0 }
        bytes += json
        bytes += data
        let path = NSTemporaryDirectory() + "st-\(UUID().uuidString).safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func floatBytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    func testReadsF32F16BF16() throws {
        let f16: [Float16] = [1.5, -2, 0.25]
        let bf16: [UInt16] = [0x3F80, 0xC000]  // 1, -2
        let data = floatBytes([1, 2, 3, 4]) + f16.withUnsafeBytes { Array($0) } + bf16.withUnsafeBytes { Array($0) }
        let path = try write(header: [
            "a": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]],
            "b": ["dtype": "F16", "shape": [3], "data_offsets": [16, 22]],
            "c": ["dtype": "BF16", "shape": [2], "data_offsets": [22, 26]],
            "__metadata__": ["k": "v"],
        ], data: data)
        let f = try SafeTensorsFile(path: path)
        XCTAssertEqual(try f.tensor("a").array, [1, 2, 3, 4])
        XCTAssertEqual(try f.tensor("a").shape, [2, 2])
        XCTAssertEqual(try f.tensor("b").array, [1.5, -2, 0.25])
        XCTAssertEqual(try f.tensor("c").array, [1, -2])
        XCTAssertEqual(f.metadata["k"], "v")
    }

    func testRejectsRangeOutsideFile() throws {
        let path = try write(header: ["w": ["dtype": "F32", "shape": [4], "data_offsets": [0, 16]]], data: floatBytes([1, 2]))
        XCTAssertThrowsError(try SafeTensorsFile(path: path)) { error in
            guard case let NNError.invalidTensorEntry(name, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "w")
            XCTAssertTrue(reason.contains("outside"), reason)
        }
    }

    func testRejectsShapeByteMismatch() throws {
        let path = try write(header: ["w": ["dtype": "F32", "shape": [3], "data_offsets": [0, 16]]], data: floatBytes([1, 2, 3, 4]))
        XCTAssertThrowsError(try SafeTensorsFile(path: path)) { error in
            guard case NNError.invalidTensorEntry(name: "w", _) = error else { return XCTFail("\(error)") }
        }
    }

    func testRejectsOverlapAndUnsupportedDType() throws {
        let overlap = try write(header: [
            "a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
            "b": ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]],
        ], data: floatBytes([1, 2, 3]))
        XCTAssertThrowsError(try SafeTensorsFile(path: overlap))
        let int8 = try write(header: ["q": ["dtype": "I8", "shape": [4], "data_offsets": [0, 4]]], data: [1, 2, 3, 4])
        XCTAssertThrowsError(try SafeTensorsFile(path: int8)) { error in
            XCTAssertEqual(error as? NNError, .unsupportedDType(name: "q", dtype: "I8"))
        }
    }

    func testRejectsTruncatedAndGarbageHeaders() throws {
        let huge = try write(header: ["a": ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]]], data: floatBytes([1]),
                             headerLengthOverride: 1 << 40)
        XCTAssertThrowsError(try SafeTensorsFile(path: huge))
        // A length past Int.max (found by tools/fuzz) once trapped converting to Int.
        let pastIntMax = try write(header: ["a": ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]]], data: floatBytes([1]),
                                   headerLengthOverride: 0xFFFF_FF0A_1AFF_FFFF)
        XCTAssertThrowsError(try SafeTensorsFile(path: pastIntMax)) { error in
            guard case NNError.invalidFile(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("exceeds file size"), reason)
        }
        let path = NSTemporaryDirectory() + "garbage-\(UUID().uuidString)"
        var len = UInt64(5).littleEndian
        var bytes = withUnsafeBytes(of: &len) { Array($0) }
        bytes += Array("{nope".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try SafeTensorsFile(path: path)) { error in
            guard case NNError.invalidFile(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("JSON"), reason)
        }
        XCTAssertThrowsError(try SafeTensorsFile(path: "/nonexistent/file.safetensors"))
    }

    func testWeightStoreChecksShapesAndLeftovers() throws {
        let path = try write(header: [
            "layer.weight": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
            "layer.extra": ["dtype": "F32", "shape": [1], "data_offsets": [8, 12]],
        ], data: floatBytes([1, 2, 3]))
        let store = try WeightStore(path: path)
        XCTAssertThrowsError(try store.tensor("layer.weight", shape: [3])) { error in
            XCTAssertEqual(error as? NNError, .shapeMismatch(name: "layer.weight", expected: [3], actual: [2]))
        }
        XCTAssertThrowsError(try store.tensor("missing")) { XCTAssertEqual($0 as? NNError, .missingTensor(name: "missing")) }
        _ = try store.tensor("layer.weight")
        XCTAssertThrowsError(try store.checkAllUsed()) { XCTAssertEqual($0 as? NNError, .unexpectedTensors(names: ["layer.extra"])) }
    }
}
