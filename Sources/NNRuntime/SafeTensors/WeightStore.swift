/// Named weights read from one or more safetensors files, checked against the shapes the
/// model expects, with a record of which tensors were used so leftovers can be reported.
public final class WeightStore: @unchecked Sendable {
    private let files: [SafeTensorsFile]
    private let excluded: [String]
    private let mount: String
    private var used: Set<String> = []

    /// `exclude` hides file names with these prefixes (fixtures keep inputs beside weights);
    /// `mountedAt` exposes every file name under that prefix (a lone module's state_dict read
    /// by code that expects it inside a parent, `m.` + `norm1.weight`).
    public init(files: [SafeTensorsFile], exclude: [String] = [], mountedAt mount: String = "") {
        self.files = files
        self.excluded = exclude
        self.mount = mount
    }

    /// The file name behind an exposed name, nil when hidden or outside the mount.
    private func fileName(_ name: String) -> String? {
        guard name.hasPrefix(mount) else { return nil }
        let inner = String(name.dropFirst(mount.count))
        return excluded.contains { inner.hasPrefix($0) } ? nil : inner
    }

    public convenience init(path: String) throws { self.init(files: [try SafeTensorsFile(path: path)]) }

    public var names: [String] {
        files.flatMap(\.names).filter { n in !excluded.contains { n.hasPrefix($0) } }.map { mount + $0 }.sorted()
    }

    public func contains(_ name: String) -> Bool {
        guard let inner = fileName(name) else { return false }
        return files.contains { $0.entries[inner] != nil }
    }

    public func shape(_ name: String) -> [Int]? {
        guard let inner = fileName(name) else { return nil }
        for f in files { if let e = f.entries[inner] { return e.shape } }
        return nil
    }

    /// The tensor `name`; `shape`, when given, must match exactly.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        try read(name, shape: shape) { try $0.tensor($1) }
    }

    /// The tensor `name` as a parameter, left in its file until a product needs it.
    public func parameter(_ name: String, shape: [Int]? = nil) throws -> Parameter {
        try read(name, shape: shape) { try $0.parameter($1) }
    }

    private func read<T>(_ name: String, shape: [Int]?, _ get: (SafeTensorsFile, String) throws -> T) throws -> T {
        guard let inner = fileName(name), let file = files.first(where: { $0.entries[inner] != nil }) else {
            throw NNError.missingTensor(name: name)
        }
        let actual = file.entries[inner]!.shape
        if let shape, shape != actual { throw NNError.shapeMismatch(name: name, expected: shape, actual: actual) }
        used.insert(name)
        return try get(file, inner)
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
