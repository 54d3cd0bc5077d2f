import CSystemZlib
import Foundation

/// The stored records of a zip archive, as `torch.save` writes them (ZIP64 included), read with
/// every offset and size checked against the file, so a hostile archive is an error, never a
/// trap or an allocation past the file's size. Compressed records are refused: PyTorch never
/// compresses, and nothing then inflates.
struct ZipArchive {
    struct Record {
        let name: String
        let method: UInt16
        let crc: UInt32
        let size: UInt64
        let localHeader: UInt64
    }

    let path: String
    /// Records by name; the first of duplicate names, as zip readers take it.
    private(set) var records: [String: Record] = [:]
    private let file: FileHandle
    private let length: UInt64

    init(path: String) throws(CheckpointError) {
        self.path = path
        guard let file = FileHandle(forReadingAtPath: path) else { throw .archive(path: path, reason: "cannot be opened, so not a zip archive") }
        self.file = file
        var st = stat()
        guard fstat(file.fileDescriptor, &st) == 0, st.st_size >= 0 else { throw .archive(path: path, reason: "cannot be read") }
        length = UInt64(st.st_size)
        // The end-of-central-directory record lies in the last 22 + 65,535 (comment) bytes.
        let tailLength = min(length, 22 + 0xFFFF)
        let tail = try read(at: length - tailLength, count: Int(tailLength))
        guard let end = stride(from: tail.count - 22, through: 0, by: -1).first(where: { tail.u32($0) == 0x0605_4B50 }) else {
            throw .archive(path: path, reason: "not a zip archive, so not a PyTorch checkpoint (no end of central directory)")
        }
        var count = UInt64(tail.u16(end + 10)), size = UInt64(tail.u32(end + 12)), offset = UInt64(tail.u32(end + 16))
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            // ZIP64: a locator just before the record points at the 64-bit end record.
            guard end >= 20, tail.u32(end - 20) == 0x0706_4B50 else { throw .archive(path: path, reason: "ZIP64 sizes without a ZIP64 locator") }
            let at = tail.u64(end - 12)
            guard at <= length, length - at >= 56 else { throw .archive(path: path, reason: "ZIP64 end record past the end of the file") }
            let zip64 = try read(at: at, count: 56)
            guard zip64.u32(0) == 0x0606_4B50 else { throw .archive(path: path, reason: "no ZIP64 end record where its locator points") }
            (count, size, offset) = (zip64.u64(32), zip64.u64(40), zip64.u64(48))
        }
        guard offset <= length, size <= length - offset else { throw .archive(path: path, reason: "central directory past the end of the file") }
        guard size <= 64 << 20 else { throw .archive(path: path, reason: "a central directory of \(size) bytes") }
        let directory = try read(at: offset, count: Int(size))
        var at = 0
        for _ in 0..<min(count, UInt64(directory.count / 46)) {
            guard directory.count - at >= 46, directory.u32(at) == 0x0201_4B50 else {
                throw .archive(path: path, reason: "central directory entry at \(offset + UInt64(at)) is damaged")
            }
            let nameLength = Int(directory.u16(at + 28)), extraLength = Int(directory.u16(at + 30)), commentLength = Int(directory.u16(at + 32))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= directory.count else { throw .archive(path: path, reason: "central directory entry at \(offset + UInt64(at)) runs past it") }
            let name = String(decoding: directory[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            var fields = [UInt64(directory.u32(at + 24)), UInt64(directory.u32(at + 20)), UInt64(directory.u32(at + 42))]
            try Self.widen(&fields, extra: Array(directory[(at + 46 + nameLength)..<(at + 46 + nameLength + extraLength)]), path: path, name: name)
            let (size, compressed) = (fields[0], fields[1])
            let method = directory.u16(at + 10)
            guard method != 0 || size == compressed else { throw .archive(path: path, reason: "record \(name) is stored with two sizes") }
            if records[name] == nil {
                records[name] = Record(name: name, method: method, crc: directory.u32(at + 16), size: size, localHeader: fields[2])
            }
            at = next
        }
    }

    /// The 64-bit values of a ZIP64 extra field (id 1) for the 32-bit fields that hold 0xFFFFFFFF,
    /// in the order the format gives them: size, compressed size, local header offset.
    private static func widen(_ fields: inout [UInt64], extra: [UInt8], path: String, name: String) throws(CheckpointError) {
        guard fields.contains(0xFFFF_FFFF) else { return }
        var at = 0
        while extra.count - at >= 4 {
            let id = extra.u16(at), length = Int(extra.u16(at + 2))
            guard extra.count - at - 4 >= length else { break }
            if id == 1 {
                var value = at + 4
                for i in fields.indices where fields[i] == 0xFFFF_FFFF {
                    guard value + 8 <= at + 4 + length else { throw .archive(path: path, reason: "record \(name): short ZIP64 field") }
                    fields[i] = extra.u64(value)
                    value += 8
                }
                return
            }
            at += 4 + length
        }
        throw .archive(path: path, reason: "record \(name): 32-bit sizes without a ZIP64 field")
    }

    /// A stored record's bytes, checked against its CRC-32. `limit` bounds what a caller accepts.
    func bytes(_ record: Record, atMost limit: Int) throws(CheckpointError) -> [UInt8] {
        guard record.method == 0 else {
            throw .archive(path: path, reason: "record \(record.name) is compressed; PyTorch stores records uncompressed")
        }
        guard record.size <= UInt64(limit) else {
            throw .archive(path: path, reason: "record \(record.name) is \(record.size) bytes, over the \(limit) allowed")
        }
        guard record.localHeader <= length, length - record.localHeader >= 30 else {
            throw .archive(path: path, reason: "record \(record.name) starts past the end of the file")
        }
        let header = try read(at: record.localHeader, count: 30)
        guard header.u32(0) == 0x0403_4B50 else { throw .archive(path: path, reason: "record \(record.name) has no local header") }
        let start = record.localHeader + 30 + UInt64(header.u16(26)) + UInt64(header.u16(28))
        guard start <= length, record.size <= length - start else {
            throw .archive(path: path, reason: "record \(record.name) runs past the end of the file")
        }
        let data = try read(at: start, count: Int(record.size))
        let crc = data.withUnsafeBufferPointer { crc32(crc32(0, nil, 0), $0.baseAddress, uInt($0.count)) }
        guard UInt32(crc) == record.crc else {
            throw .archive(path: path, reason: "record \(record.name) is damaged (CRC-32 \(String(crc, radix: 16)), the archive says \(String(record.crc, radix: 16)))")
        }
        return data
    }

    /// `count` bytes at `offset`, which the callers have checked lie in the file, read straight
    /// into the array (one buffer per record, however large).
    private func read(at offset: UInt64, count: Int) throws(CheckpointError) -> [UInt8] {
        var failed: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = pread(file.fileDescriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failed = n < 0 ? errno : -1; break }
                done += n
            }
            initialized = done
        }
        guard failed == 0 else {
            throw .archive(path: path, reason: failed < 0 ? "truncated at byte \(offset + UInt64(bytes.count))"
                                                          : "cannot be read at byte \(offset) (\(String(cString: strerror(failed))))")
        }
        return bytes
    }
}

private extension Array where Element == UInt8 {
    func u16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}
