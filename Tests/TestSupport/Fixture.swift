import Foundation
import XCTest
import NNRuntime

/// Golden tensors written by tools/reference/make_fixtures.py: weights under their
/// state_dict names, inputs and outputs under `__input__.*` / `__output__.*` (modules) or
/// `<case>.<role>` (ops), parameters as JSON in the metadata.
public struct Fixture {
    public let file: SafeTensorsFile
    public let url: URL

    /// Loads `name.safetensors` from a test bundle's `Fixtures` folder.
    public init(_ name: String, in bundle: Bundle) throws {
        guard let url = bundle.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
            throw NNError.invalidFile(path: name, reason: "fixture not bundled; run tools/reference/make_fixtures.py")
        }
        self.url = url
        file = try SafeTensorsFile(path: url.path)
    }

    public func tensor(_ name: String) throws -> Tensor { try file.tensor(name) }

    /// A JSON object from the metadata (`cases`, `config`).
    public func metadata(_ key: String) -> [String: Any] {
        let json = file.metadata[key].flatMap { $0.data(using: .utf8) }
        return json.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
    }

    /// The weights of this fixture (every tensor not under `__input__.` / `__output__.`),
    /// optionally mounted under a prefix.
    public func weights(mountedAt prefix: String = "") -> WeightStore {
        WeightStore(files: [file], exclude: ["__input__.", "__output__."], mountedAt: prefix)
    }
}

/// max |a - b| / max(max |b|, 1e-6): one number per tensor, scale-free.
public func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "\(a.shape) vs \(b.shape)")
    var diff: Float = 0, scale: Float = 0
    for i in 0..<a.count {
        diff = max(diff, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / max(scale, 1e-6)
}

public func assertClose(_ a: Tensor, _ b: Tensor, tolerance: Float = 1e-4, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(label): shape", file: file, line: line)
    guard a.count == b.count else { return }
    let e = relativeError(a, b)
    XCTAssertLessThanOrEqual(e, tolerance, "\(label): relative error \(e)", file: file, line: line)
}
