import Foundation

/// Writes a `.safetensors` file laid out as the reference implementation (`safetensors.torch.save_file`)
/// lays it out: tensors in name order (all of one dtype), a compact JSON header padded with spaces
/// to 8 bytes, no metadata. The same tensors give the same bytes.
public struct SafeTensorsWriter {
    public struct Item: Sendable {
        public let name: String
        public let shape: [Int]
        public init(name: String, shape: [Int]) { (self.name, self.shape) = (name, shape) }
        var count: Int { shape.reduce(1, *) }
    }

    public let dtype: SafeTensorsFile.DType

    public init(dtype: SafeTensorsFile.DType) { self.dtype = dtype }

    /// Writes `tensors` to `path`; `values` gives each one's elements in row-major order, asked
    /// for one at a time so only one tensor is held in memory. The file is written beside `path`
    /// and renamed over it once complete: a file at `path` is never seen half written, and a
    /// process that maps the old one (a running server) keeps reading the old one.
    public func write<E: Error>(_ tensors: [Item], to path: String, values: (Item) throws(E) -> [Float]) throws -> Void {
        let ordered = tensors.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        var header = "{", offset = 0
        for (i, t) in ordered.enumerated() {
            let end = offset + t.count * dtype.size
            header += (i == 0 ? "" : ",") + Self.quoted(t.name)
                + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let file = FileHandle(forWritingAtPath: partial) else {
            throw NNError.invalidFile(path: partial, reason: "cannot create")
        }
        var complete = false
        defer {
            if !complete {
                try? file.close()
                unlink(partial)
            }
        }
        var length = UInt64(headerBytes.count).littleEndian
        try file.write(contentsOf: Data(bytes: &length, count: 8) + Data(headerBytes))
        for t in ordered {
            let floats = try values(t)
            guard floats.count == t.count else {
                throw NNError.invalidTensorEntry(name: t.name, reason: "\(floats.count) values for shape \(t.shape)")
            }
            try file.write(contentsOf: encode(floats))
        }
        try file.close()
        guard rename(partial, path) == 0 else {
            throw NNError.invalidFile(path: path, reason: "cannot replace (\(String(cString: strerror(errno))))")
        }
        complete = true
    }

    /// Little-endian elements; half and bfloat16 rounded to nearest even, as torch casts.
    func encode(_ floats: [Float]) -> Data {
        var data = Data(count: floats.count * dtype.size)
        data.withUnsafeMutableBytes { raw in
            switch dtype {
            case .f32: floats.withUnsafeBytes { raw.copyMemory(from: $0) }
            case .f16: for (i, x) in floats.enumerated() { raw.storeBytes(of: Float16(x).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            case .bf16: for (i, x) in floats.enumerated() { raw.storeBytes(of: Self.bfloat16(x).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
        }
        return data
    }

    /// c10::BFloat16's round to nearest even; NaN becomes the quiet NaN 0x7FC0.
    static func bfloat16(_ x: Float) -> UInt16 {
        guard !x.isNaN else { return 0x7FC0 }
        let bits = x.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// A JSON string as serde_json writes it: quotes, backslashes and control characters escaped.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
