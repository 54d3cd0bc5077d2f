/// COCO panoptic PNGs: id = R + 256 G + 256^2 B per pixel, 0 = void.
public enum PanopticPNG {
    /// Encoded a row at a time, so no full-size RGB copy of the ids is made.
    public static func encode(ids: [UInt32], width: Int, height: Int) throws -> [UInt8] {
        precondition(ids.count == width * height, "\(ids.count) ids for \(width)x\(height)")
        return try ids.withUnsafeBufferPointer { ids in
            try PNGCodec.encodeRows(width: width, height: height, channels: 3) { y, row in
                for x in 0..<width {
                    let id = ids[y * width + x]
                    row[3 * x] = UInt8(id & 0xFF)
                    row[3 * x + 1] = UInt8((id >> 8) & 0xFF)
                    row[3 * x + 2] = UInt8((id >> 16) & 0xFF)
                }
            }
        }
    }

    public static func decode(_ data: [UInt8], maxPixels: Int = .max) throws -> (width: Int, height: Int, ids: [UInt32]) {
        let image = try PNGCodec.decode(data, maxPixels: maxPixels)
        let p = image.pixels
        let ids = (0..<(image.width * image.height)).map {
            UInt32(p[3 * $0]) | UInt32(p[3 * $0 + 1]) << 8 | UInt32(p[3 * $0 + 2]) << 16
        }
        return (image.width, image.height, ids)
    }
}
