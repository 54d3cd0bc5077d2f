/// COCO panoptic PNGs: id = R + 256 G + 256^2 B per pixel, 0 = void.
public enum PanopticPNG {
    public static func encode(ids: [UInt32], width: Int, height: Int) throws -> [UInt8] {
        precondition(ids.count == width * height, "\(ids.count) ids for \(width)x\(height)")
        var rgb = [UInt8](repeating: 0, count: ids.count * 3)
        for (i, id) in ids.enumerated() {
            rgb[3 * i] = UInt8(id & 0xFF)
            rgb[3 * i + 1] = UInt8((id >> 8) & 0xFF)
            rgb[3 * i + 2] = UInt8((id >> 16) & 0xFF)
        }
        return try PNGCodec.encode(RGBImage(width: width, height: height, pixels: rgb))
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
