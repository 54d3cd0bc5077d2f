/// Named weights read from one or more safetensors files, checked against the shapes the
/// model expects, with a record of which tensors were used so leftovers can be reported.
public final class WeightStore: @unchecked Sendable {
    private let files: [SafeTensorsFile]
    private let excluded: [String]
    private var used: Set<String> = []

    /// `exclude` hides names with these prefixes (fixtures keep inputs beside weights).
    public init(files: [SafeTensorsFile], exclude: [String] = []) {
        self.files = files
        self.excluded = exclude
    }

    public convenience init(path: String) throws { self.init(files: [try SafeTensorsFile(path: path)]) }

    public var names: [String] { files.flatMap(\.names).filter(visible).sorted() }

    private func visible(_ name: String) -> Bool { !excluded.contains { name.hasPrefix($0) } }

    public func contains(_ name: String) -> Bool { visible(name) && files.contains { $0.entries[name] != nil } }

    public func shape(_ name: String) -> [Int]? {
        for f in files where visible(name) { if let e = f.entries[name] { return e.shape } }
        return nil
    }

    /// The tensor `name`; `shape`, when given, must match exactly.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        for f in files where visible(name) && f.entries[name] != nil {
            let t = try f.tensor(name)
            if let shape, shape != t.shape { throw NNError.shapeMismatch(name: name, expected: shape, actual: t.shape) }
            used.insert(name)
            return t
        }
        throw NNError.missingTensor(name: name)
    }

    public func optionalTensor(_ name: String, shape: [Int]? = nil) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// Names under `prefix` that no module has read.
    public func unused(prefix: String = "") -> [String] {
        names.filter { $0.hasPrefix(prefix) && !used.contains($0) }
    }

    /// Throws when tensors under `prefix` were never read: they signal a layout we do not model.
    public func checkAllUsed(prefix: String = "") throws {
        let left = unused(prefix: prefix)
        if !left.isEmpty { throw NNError.unexpectedTensors(names: left) }
    }

    /// Distinct integer indices that follow `prefix` in tensor names (`down_blocks.` -> [0, 1, 2]).
    public func indices(under prefix: String) -> [Int] {
        Set(names.compactMap { name -> Int? in
            guard name.hasPrefix(prefix) else { return nil }
            return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
        }).sorted()
    }
}
