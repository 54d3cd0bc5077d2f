/// Why a checkpoint cannot be read or converted; each case names what it refused.
package enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// The file is not a PyTorch zip checkpoint, or its archive is damaged or hostile.
    case archive(path: String, reason: String)
    /// `data.pkl` breaks the restricted unpickler's rules at byte `offset`.
    case pickle(offset: Int, reason: String)
    /// The pickle names a class or function outside the allow-list.
    case forbiddenGlobal(String)
    /// A tensor's data is missing or does not match what the pickle says.
    case tensor(name: String, reason: String)
    /// The checkpoint holds a model segserve cannot run, or lacks a part it needs.
    case unsupported(String)

    package var description: String {
        switch self {
        case .archive(let path, let reason): "\(path): \(reason)"
        case .pickle(let offset, let reason): "data.pkl at byte \(offset): \(reason)"
        case .forbiddenGlobal(let name): "data.pkl calls \(name), which a checkpoint may not (only tensors, storages and plain values are rebuilt)"
        case .tensor(let name, let reason): "tensor '\(name)': \(reason)"
        case .unsupported(let reason): reason
        }
    }
}
