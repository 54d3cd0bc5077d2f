import Foundation
import XCTest
import NNRuntime

/// Golden tensors written by tools/reference/make_fixtures.py.
struct Fixture {
    let file: SafeTensorsFile
    let cases: [String: [String: Any]]

    init(_ name: String) throws {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
            throw NNError.invalidFile(path: name, reason: "fixture not bundled")
        }
        file = try SafeTensorsFile(path: url.path)
        let json = file.metadata["cases"].flatMap { $0.data(using: .utf8) }
        cases = json.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: [String: Any]] } ?? [:]
    }

    func tensor(_ name: String) throws -> Tensor { try file.tensor(name) }
    func optional(_ name: String) throws -> Tensor? { file.entries[name] == nil ? nil : try file.tensor(name) }
}

/// max |a - b| / max(max |b|, 1e-6): one number per tensor, scale-free.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "\(a.shape) vs \(b.shape)")
    var diff: Float = 0, scale: Float = 0
    for i in 0..<a.count {
        diff = max(diff, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / max(scale, 1e-6)
}

func assertClose(_ a: Tensor, _ b: Tensor, tolerance: Float = 1e-4, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(label): shape", file: file, line: line)
    guard a.count == b.count else { return }
    let e = relativeError(a, b)
    XCTAssertLessThanOrEqual(e, tolerance, "\(label): relative error \(e)", file: file, line: line)
}
