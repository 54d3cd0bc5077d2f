/// The Painter / SegGPT colour palette: with `b` values per channel and margin m = 255 / b,
/// class k is (255 - (k / b^2) m, 255 - ((k / b) mod b) m, 255 - (k mod b) m). A painted map
/// decodes to the class whose colour is nearest in L1.
public struct Palette: Sendable {
    public let valuesPerChannel: Int
    public let classes: Int

    /// The smallest palette with room for `classes` colours.
    public init(classes: Int) {
        var b = 1
        while b * b * b < classes { b += 1 }
        self.init(valuesPerChannel: b, classes: classes)
    }

    public init(valuesPerChannel: Int, classes: Int) {
        precondition(valuesPerChannel >= 1 && classes <= valuesPerChannel * valuesPerChannel * valuesPerChannel)
        self.valuesPerChannel = valuesPerChannel
        self.classes = classes
    }

    public func color(_ k: Int) -> (UInt8, UInt8, UInt8) {
        let b = valuesPerChannel, m = 255 / b
        return (UInt8(255 - (k / (b * b)) * m), UInt8(255 - ((k / b) % b) * m), UInt8(255 - (k % b) * m))
    }

    /// Colours an RGB image (interleaved) from a label per pixel.
    public func paint(_ labels: [Int]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: labels.count * 3)
        for (i, k) in labels.enumerated() {
            let (r, g, b) = color(k)
            out[3 * i] = r; out[3 * i + 1] = g; out[3 * i + 2] = b
        }
        return out
    }

    /// The nearest class in L1 for every pixel of an interleaved RGB image.
    public func decode(_ rgb: [UInt8]) -> [Int] {
        let colors = (0..<classes).map(color)
        var cache: [UInt32: Int] = [:]
        return (0..<(rgb.count / 3)).map { i in
            let (r, g, b) = (Int(rgb[3 * i]), Int(rgb[3 * i + 1]), Int(rgb[3 * i + 2]))
            let key = UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)
            if let k = cache[key] { return k }
            var best = 0, bestDistance = Int.max
            for (k, c) in colors.enumerated() {
                let d = abs(r - Int(c.0)) + abs(g - Int(c.1)) + abs(b - Int(c.2))
                if d < bestDistance { bestDistance = d; best = k }
            }
            cache[key] = best
            return best
        }
    }
}
