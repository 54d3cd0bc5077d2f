/// Draws a panoptic map over its image: each segment tinted with its own colour, segment
/// borders in white, void pixels left as they are.
public enum PanopticOverlay {
    /// How much of a segment's colour replaces the image (0...1).
    public static let opacity: Float = 0.5

    public static func render(_ image: RGBImage, ids: [UInt32]) -> RGBImage {
        precondition(ids.count == image.width * image.height, "\(ids.count) ids for \(image.width)x\(image.height)")
        let (w, h) = (image.width, image.height)
        var out = image
        var colours: [UInt32: (Float, Float, Float)] = [:]
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x, id = ids[i]
                guard id != 0 else { continue }
                let border = (x + 1 < w && ids[i + 1] != id) || (x > 0 && ids[i - 1] != id)
                    || (y + 1 < h && ids[i + w] != id) || (y > 0 && ids[i - w] != id)
                if border {
                    out.pixels[3 * i] = 255; out.pixels[3 * i + 1] = 255; out.pixels[3 * i + 2] = 255
                    continue
                }
                let c = colours[id] ?? colour(id)
                colours[id] = c
                for (k, v) in [c.0, c.1, c.2].enumerated() {
                    let p = Float(image.pixels[3 * i + k])
                    out.pixels[3 * i + k] = UInt8((p + (v - p) * opacity).rounded())
                }
            }
        }
        return out
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
