/// A module's tensors by name, in the checkpoint's order, each read from the checkpoint it came from.
package struct StateDict {
    package private(set) var names: [String] = []
    private var tensors: [String: (record: TensorRecord, source: TorchCheckpoint)] = [:]

    init() {}

    /// The state_dict `value` (a dict of tensors) with any `module.` prefix (DistributedDataParallel) removed.
    init(_ value: PickleValue?, part: String, of source: TorchCheckpoint) throws(CheckpointError) {
        guard let dict = value?.dict, !dict.keys.isEmpty else { throw .unsupported("checkpoint has no '\(part)' state_dict") }
        for key in dict.keys {
            guard case .string(let raw) = key, let tensor = dict[raw]?.tensor else {
                throw .unsupported("'\(part)' holds \(key) that is not a named tensor")
            }
            self[raw.hasPrefix("module.") ? String(raw.dropFirst(7)) : raw] = (tensor, source)
        }
    }

    package subscript(name: String) -> (record: TensorRecord, source: TorchCheckpoint)? {
        get { tensors[name] }
        set {
            if tensors[name] == nil, newValue != nil { names.append(name) }
            if newValue == nil { names.removeAll { $0 == name } }
            tensors[name] = newValue
        }
    }

    package func shape(_ name: String) -> [Int]? { tensors[name]?.record.shape }

    package func floats(_ name: String) throws(CheckpointError) -> [Float] {
        guard let t = tensors[name] else { throw .tensor(name: name, reason: "missing") }
        return try t.source.floats(t.record, name: name)
    }

    func require(_ keys: [String], _ part: String) throws(CheckpointError) {
        let missing = keys.filter { tensors[$0] == nil }
        guard missing.isEmpty else { throw .unsupported("'\(part)' lacks \(missing.joined(separator: ", "))") }
    }

    /// The tensors whose names pass `keep`, renamed by `rename`.
    func filtered(_ keep: (String) -> Bool, rename: (String) -> String = { $0 }) -> StateDict {
        var out = StateDict()
        for name in names where keep(name) { out[rename(name)] = tensors[name] }
        return out
    }
}
