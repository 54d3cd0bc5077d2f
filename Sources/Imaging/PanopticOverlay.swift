/// Draws a panoptic map over its image: each segment tinted with its own colour, segment
/// borders in white, void pixels left as they are.
public enum PanopticOverlay {
    /// How much of a segment's colour replaces the image (0...1).
    public static let opacity: Float = 0.5

    /// The overlay as a PNG, drawn and encoded a row at a time: no full-size copy of the image.
    public static func encodePNG(_ image: RGBImage, ids: [UInt32]) throws -> [UInt8] {
        precondition(ids.count == image.width * image.height, "\(ids.count) ids for \(image.width)x\(image.height)")
        var colours: [UInt32: (Float, Float, Float)] = [:]
        return try PNGCodec.encodeRows(width: image.width, height: image.height, channels: 3) { y, row in
            draw(row: y, of: image, ids: ids, into: row, colours: &colours)
        }
    }

    /// Row `y` of the overlay: the image's row with each segment's pixels tinted and its border white.
    private static func draw(row y: Int, of image: RGBImage, ids: [UInt32], into row: UnsafeMutableBufferPointer<UInt8>,
                             colours: inout [UInt32: (Float, Float, Float)]) {
        let (w, h) = (image.width, image.height)
        for x in 0..<w {
            let i = y * w + x, id = ids[i]
            for k in 0..<3 { row[3 * x + k] = image.pixels[3 * i + k] }
            guard id != 0 else { continue }
            let border = (x + 1 < w && ids[i + 1] != id) || (x > 0 && ids[i - 1] != id)
                || (y + 1 < h && ids[i + w] != id) || (y > 0 && ids[i - w] != id)
            if border {
                row[3 * x] = 255; row[3 * x + 1] = 255; row[3 * x + 2] = 255
                continue
            }
            let c = colours[id] ?? colour(id)
            colours[id] = c
            for (k, v) in [c.0, c.1, c.2].enumerated() {
                let p = Float(image.pixels[3 * i + k])
                row[3 * x + k] = UInt8((p + (v - p) * opacity).rounded())
            }
        }
    }

    /// A saturated colour per id, hues spread by the golden angle so neighbours in id differ.
    static func colour(_ id: UInt32) -> (Float, Float, Float) {
        let hue = (Float(id) * 0.618_034).truncatingRemainder(dividingBy: 1) * 6
        let x = 1 - abs(hue.truncatingRemainder(dividingBy: 2) - 1)
        let (r, g, b): (Float, Float, Float) = switch Int(hue) {
        case 0: (1, x, 0)
        case 1: (x, 1, 0)
        case 2: (0, 1, x)
        case 3: (0, x, 1)
        case 4: (x, 0, 1)
        default: (1, 0, x)
        }
        // Value 0.9, saturation 0.8: bright but not neon.
        return ((0.18 + 0.72 * r) * 255, (0.18 + 0.72 * g) * 255, (0.18 + 0.72 * b) * 255)
    }
}
