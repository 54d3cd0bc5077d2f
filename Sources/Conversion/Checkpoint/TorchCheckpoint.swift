import CSystemZlib
import Foundation
import ZIPFoundation

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
    private let archive: Archive
    private let records: [String: Entry]
    /// The last storage read: views of one storage (and aliases) are read from disk once.
    private var lastStorage: (key: String, data: Data)?

    package init(path: String) throws(CheckpointError) {
        self.path = path
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw .archive(path: path, reason: "not a zip archive, so not a PyTorch checkpoint (\(error))")
        }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        var files: [String: Entry] = [:]
        for entry in archive where entry.type == .file {
            files[entry.path] = files[entry.path] ?? entry  // the first of duplicate names, as ZIP readers do
        }
        guard let pickleName = files.keys.filter({ $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }).min() else {
            throw .archive(path: path, reason: "no <name>/data.pkl record: not a PyTorch zip checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if let order = files[prefix + "byteorder"] {
            let text = String(decoding: try Self.read(order, of: archive, path: path, atMost: 16), as: UTF8.self)
            guard text == "little" else { throw .archive(path: path, reason: "byte order '\(text)'; only little-endian checkpoints are read") }
        }
        let pickle = try Self.read(files[pickleName]!, of: archive, path: path, atMost: Self.maximumPickleBytes)
        let (root, storages, arena) = try Unpickler.load(Array(pickle))
        var records: [String: Entry] = [:]
        for (key, storage) in storages {
            guard let record = files[prefix + "data/" + key] else {
                throw .archive(path: path, reason: "storage '\(key)' has no record \(prefix)data/\(key)")
            }
            let bytes = storage.count * storage.dtype.size
            guard record.uncompressedSize == UInt64(bytes) else {
                throw .archive(path: path, reason: "record \(prefix)data/\(key) holds \(record.uncompressedSize) bytes; its storage needs \(bytes)")
            }
            // Stored records lie in the file: a size past it is a lie, refused before any allocation.
            guard record.uncompressedSize <= fileSize else {
                throw .archive(path: path, reason: "record \(prefix)data/\(key) claims \(bytes) bytes, more than the file holds")
            }
            records[key] = record
        }
        (self.root, self.arena, self.archive, self.records) = (root, arena, archive, records)
    }

    /// The elements of `tensor` in row-major order, as float32, the way torch's `to(dtype)` reads
    /// them: every source type goes through float32, as torch's half and bfloat16 casts do.
    package func floats(_ tensor: TensorRecord, name: String) throws(CheckpointError) -> [Float] {
        guard let record = records[tensor.storage.key] else { throw .tensor(name: name, reason: "storage '\(tensor.storage.key)' is not in the archive") }
        let storage: Data
        if let last = lastStorage, last.key == tensor.storage.key {
            storage = last.data
        } else {
            storage = try Self.read(record, of: archive, path: path, atMost: Int(record.uncompressedSize))
            lastStorage = (tensor.storage.key, storage)
        }
        guard storage.count == tensor.storage.count * tensor.dtype.size else {
            throw .tensor(name: name, reason: "its record holds \(storage.count) bytes, not \(tensor.storage.count * tensor.dtype.size)")
        }
        let decode = Self.decoder(tensor.dtype)
        var out = [Float](repeating: 0, count: tensor.count)
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

    /// A stored (uncompressed) record's bytes, checked against its CRC-32; compressed records
    /// are refused, so no input inflates past its size on disk.
    private static func read(_ entry: Entry, of archive: Archive, path: String, atMost limit: Int) throws(CheckpointError) -> Data {
        guard !entry.isCompressed else {
            throw .archive(path: path, reason: "record \(entry.path) is compressed; PyTorch stores records uncompressed")
        }
        guard entry.uncompressedSize <= UInt64(limit) else {
            throw .archive(path: path, reason: "record \(entry.path) is \(entry.uncompressedSize) bytes, over the \(limit) allowed")
        }
        var data = Data(capacity: Int(entry.uncompressedSize))
        var crc = crc32(0, nil, 0)
        do {
            // zlib's CRC instead of the archive reader's, which is several times slower.
            _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: true) { chunk in
                guard data.count + chunk.count <= limit else { throw CheckpointError.archive(path: path, reason: "record \(entry.path) runs past its size") }
                crc = chunk.withUnsafeBytes { crc32(crc, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count)) }
                data.append(chunk)
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .archive(path: path, reason: "record \(entry.path) cannot be read (\(error))")
        }
        guard data.count == Int(entry.uncompressedSize) else {
            throw .archive(path: path, reason: "record \(entry.path) holds \(data.count) of its \(entry.uncompressedSize) bytes")
        }
        guard UInt32(crc) == entry.checksum else {
            throw .archive(path: path, reason: "record \(entry.path) is damaged (CRC-32 \(String(crc, radix: 16)), the archive says \(String(entry.checksum, radix: 16)))")
        }
        return data
    }
}
