/// The EXIF Orientation of a JPEG (TIFF tag 0x0112): how the stored pixels turn into the picture
/// a browser or Pillow's `exif_transpose` shows. Phones store portrait photos sideways and say
/// so here, so results are computed, and returned, in the orientation the user sees.
public enum ExifOrientation: Int, Sendable {
    case up = 1, mirrored, upsideDown, mirroredUpsideDown, transposed, rotatedClockwise, transversed, rotatedCounterClockwise

    /// The orientation a JPEG's first Exif segment gives; `.up` when there is none or it is malformed.
    public init(jpeg data: [UInt8]) {
        self = Self.tiff(in: data).flatMap(Self.orientation(inTIFF:)).flatMap(Self.init(rawValue:)) ?? .up
    }

    /// True when the shown picture is the stored one turned by a quarter (width and height swap).
    public var swapsAxes: Bool { rawValue >= 5 }

    /// The stored image as it is shown.
    public func applied(to image: RGBImage) -> RGBImage {
        guard self != .up else { return image }
        let (w, h) = (image.width, image.height)
        let (outW, outH) = swapsAxes ? (h, w) : (w, h)
        var pixels = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        let (sx, sy): (Int, Int)
                        switch self {
                        case .up: (sx, sy) = (x, y)
                        case .mirrored: (sx, sy) = (w - 1 - x, y)
                        case .upsideDown: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case .mirroredUpsideDown: (sx, sy) = (x, h - 1 - y)
                        case .transposed: (sx, sy) = (y, x)
                        case .rotatedClockwise: (sx, sy) = (y, h - 1 - x)
                        case .transversed: (sx, sy) = (w - 1 - y, h - 1 - x)
                        case .rotatedCounterClockwise: (sx, sy) = (w - 1 - y, x)
                        }
                        let from = (sy * w + sx) * 3, to = (y * outW + x) * 3
                        dst[to] = src[from]
                        dst[to + 1] = src[from + 1]
                        dst[to + 2] = src[from + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: pixels)
    }

    /// The TIFF block of the first APP1 "Exif" segment before the image data, if any.
    private static func tiff(in data: [UInt8]) -> ArraySlice<UInt8>? {
        var at = 2  // after SOI
        while at + 4 <= data.count, data[at] == 0xFF {
            let marker = data[at + 1]
            if marker == 0xFF { at += 1; continue }  // fill byte
            if marker == 0xDA || marker == 0xD9 { return nil }  // image data or end: no Exif before it
            let length = Int(data[at + 2]) << 8 | Int(data[at + 3])
            guard length >= 2, at + 2 + length <= data.count else { return nil }
            let body = data[(at + 4)..<(at + 2 + length)]
            if marker == 0xE1, body.starts(with: Array("Exif\0\0".utf8)) { return body.dropFirst(6) }
            at += 2 + length
        }
        return nil
    }

    /// Tag 0x0112 of IFD0 in a TIFF block, every offset bounds-checked.
    private static func orientation(inTIFF tiff: ArraySlice<UInt8>) -> Int? {
        let bytes = Array(tiff)
        guard bytes.count >= 8 else { return nil }
        let little: Bool
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func read(_ offset: Int, _ count: Int) -> Int? {
            guard offset >= 0, offset + count <= bytes.count else { return nil }
            let field = bytes[offset..<(offset + count)]
            return (little ? field.reversed() : Array(field)).reduce(0) { $0 << 8 | Int($1) }
        }
        guard read(2, 2) == 42, let ifd = read(4, 4), let entries = read(ifd, 2) else { return nil }
        for index in 0..<min(entries, 512) {
            let entry = ifd + 2 + 12 * index
            guard let tag = read(entry, 2) else { return nil }
            if tag == 0x0112 {
                guard read(entry + 2, 2) == 3 else { return nil }  // SHORT
                return read(entry + 8, 2)
            }
        }
        return nil
    }
}
