import Foundation

/// A PyTorch zip checkpoint (`torch.save` since 1.6): `<archive>/data.pkl`, run by the restricted
/// `Unpickler`, and one stored record `<archive>/data/<key>` per storage. Records are read
/// only when a tensor is asked for, so a multi-gigabyte checkpoint costs one tensor's memory.
package final class TorchCheckpoint {
    /// The largest `data.pkl` accepted: a checkpoint's pickle holds names and small values only.
    static let maximumPickleBytes = 64 << 20

    package let path: String
    /// The unpickled object; its containers are valid while this checkpoint lives.
    package let root: PickleValue
    private let arena: PickleArena
    private let archive: ZipArchive
    private let records: [String: ZipArchive.Record]
    /// The last storage read: views of one storage (and aliases) are read from disk once.
    private var lastStorage: (key: String, data: [UInt8])?

    package init(path: String) throws(CheckpointError) {
        self.path = path
        let archive = try ZipArchive(path: path)
        guard let pickleName = archive.records.keys.filter({ $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }).min() else {
            throw .archive(path: path, reason: "no <name>/data.pkl record: not a PyTorch zip checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if let order = archive.records[prefix + "byteorder"] {
            let text = String(decoding: try archive.bytes(order, atMost: 16), as: UTF8.self)
            guard text == "little" else { throw .archive(path: path, reason: "byte order '\(text)'; only little-endian checkpoints are read") }
        }
        let pickle = try archive.bytes(archive.records[pickleName]!, atMost: Self.maximumPickleBytes)
        let (root, storages, arena) = try Unpickler.load(pickle)
        var records: [String: ZipArchive.Record] = [:]
        for (key, storage) in storages {
            guard let record = archive.records[prefix + "data/" + key] else {
                throw .archive(path: path, reason: "storage '\(key)' has no record \(prefix)data/\(key)")
            }
            let bytes = storage.count * storage.dtype.size
            guard record.size == UInt64(bytes) else {
                throw .archive(path: path, reason: "record \(prefix)data/\(key) holds \(record.size) bytes; its storage needs \(bytes)")
            }
            records[key] = record
        }
        (self.root, self.arena, self.archive, self.records) = (root, arena, archive, records)
    }

    /// The elements of `tensor` in row-major order, as float32, the way torch's `to(dtype)` reads
    /// them: every source type goes through float32, as torch's half and bfloat16 casts do.
    package func floats(_ tensor: TensorRecord, name: String) throws(CheckpointError) -> [Float] {
        guard let record = records[tensor.storage.key] else { throw .tensor(name: name, reason: "storage '\(tensor.storage.key)' is not in the archive") }
        let storage: [UInt8]
        if let last = lastStorage, last.key == tensor.storage.key {
            storage = last.data
        } else {
            storage = try archive.bytes(record, atMost: Int(record.size))
            lastStorage = (tensor.storage.key, storage)
        }
        guard storage.count == tensor.storage.count * tensor.dtype.size else {
            throw .tensor(name: name, reason: "its record holds \(storage.count) bytes, not \(tensor.storage.count * tensor.dtype.size)")
        }
        var out = [Float](repeating: 0, count: tensor.count)
        if tensor.dtype == .float32, tensor.isContiguous {  // the common case: one copy
            out.withUnsafeMutableBytes { dst in
                storage.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(4 * tensor.offset)...].prefix(dst.count))) }
            }
            return out
        }
        let decode = Self.decoder(tensor.dtype)
        storage.withUnsafeBytes { raw in
            // Walk the strided view as an odometer over the shape.
            var index = [Int](repeating: 0, count: tensor.shape.count)
            var element = tensor.offset
            for i in 0..<out.count {
                out[i] = decode(raw, element)
                var axis = tensor.shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    element += tensor.strides[axis]
                    if index[axis] < tensor.shape[axis] { break }
                    element -= tensor.strides[axis] * index[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return out
    }

    private static func decoder(_ dtype: TorchDType) -> (UnsafeRawBufferPointer, Int) -> Float {
        switch dtype {
        case .float32: { Float(bitPattern: $0.loadUnaligned(fromByteOffset: 4 * $1, as: UInt32.self)) }
        case .float64: { Float(Double(bitPattern: $0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self))) }
        case .float16: { Float(Float16(bitPattern: $0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self))) }
        case .bfloat16: { Float(bitPattern: UInt32($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)) << 16) }
        case .int64: { Float(Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self))) }
        case .int32: { Float(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self))) }
        case .int16: { Float(Int16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self))) }
        case .int8: { Float(Int8(bitPattern: $0[$1])) }
        case .uint8: { Float($0[$1]) }
        case .bool: { $0[$1] != 0 ? 1 : 0 }
        }
    }
}
