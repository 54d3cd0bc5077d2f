import Foundation

/// A memory-mapped `.safetensors` file: the JSON header is validated up front (well-formed,
/// every byte range inside the data section, shape x dtype size = byte length, no overlaps),
/// tensors are decoded to float32 on demand. The mapping lasts as long as the file object, which
/// its lazy parameters keep: replace a model file in use by renaming a new one over it, never by
/// rewriting it in place.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let range: Range<Int>  // byte offsets within the data section
    }

    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        var size: Int { self == .f32 ? 4 : 2 }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let mapping: UnsafeMutableRawPointer
    private let mappedLength: Int
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw NNError.invalidFile(path: path, reason: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw NNError.invalidFile(path: path, reason: "cannot stat") }
        let length = Int(st.st_size)
        guard length >= 8 else { throw NNError.invalidFile(path: path, reason: "truncated: \(length) bytes, no header length") }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw NNError.invalidFile(path: path, reason: "mmap failed")
        }
        mapping = base
        mappedLength = length
        do {
            // Compared as UInt64: a length past Int.max must be an error, not a trap.
            let rawLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
            guard rawLength > 0, rawLength <= UInt64(length - 8) else {
                throw NNError.invalidFile(path: path, reason: "header length \(rawLength) exceeds file size \(length)")
            }
            let headerLength = Int(rawLength)
            dataStart = 8 + headerLength
            let header = Data(bytes: base + 8, count: headerLength)
            (entries, metadata) = try Self.parseHeader(header, dataLength: length - dataStart, path: path)
        } catch {
            munmap(base, length)
            throw error
        }
    }

    deinit { munmap(mapping, mappedLength) }

    public var names: [String] { entries.keys.sorted() }

    /// The tensor `name` as float32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw NNError.missingTensor(name: name) }
        return decode(e)
    }

    /// The float32 values of `e`, one of this file's entries.
    func decode(_ e: Entry) -> Tensor {
        let t = Tensor(shape: e.shape)
        let src = UnsafeRawPointer(mapping + dataStart + e.range.lowerBound)
        switch e.dtype {
        case .f32:
            UnsafeMutableRawPointer(t.data).copyMemory(from: src, byteCount: t.count * 4)
        case .f16:
            for i in 0..<t.count { t.data[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<t.count {
                let bits = UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                t.data[i] = Float(bitPattern: bits)
            }
        }
        release(e.range)
        return t
    }

    /// Drops the mapped pages of a tensor already copied out, so loading a model costs its
    /// weights once in resident memory rather than twice.
    private func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (dataStart + range.lowerBound + page - 1) / page * page
        let end = (dataStart + range.upperBound) / page * page
        if end > start { madvise(mapping + start, end - start, Int32(MADV_DONTNEED)) }
    }

    static func parseHeader(_ data: Data, dataLength: Int, path: String) throws -> ([String: Entry], [String: String]) {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw NNError.invalidFile(path: path, reason: "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw NNError.invalidFile(path: path, reason: "header is not a JSON object") }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shape = (info["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (info["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2
            else { throw NNError.invalidTensorEntry(name: name, reason: "needs dtype, shape and data_offsets [begin, end]") }
            guard let dtype = DType(rawValue: dtypeName) else { throw NNError.unsupportedDType(name: name, dtype: dtypeName) }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw NNError.invalidTensorEntry(name: name, reason: "negative dimension in \(shape)") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw NNError.invalidTensorEntry(name: name, reason: "byte range \(begin)..<\(end) outside the data section (\(dataLength) bytes)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, elements * dtype.size == end - begin else {
                throw NNError.invalidTensorEntry(name: name, reason: "shape \(shape) x \(dtypeName) does not match \(end - begin) bytes")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        let sorted = entries.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw NNError.invalidTensorEntry(name: b.name, reason: "byte range overlaps '\(a.name)'")
        }
        return (entries, metadata)
    }
}
