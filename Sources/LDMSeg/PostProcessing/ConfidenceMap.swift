/// How sure post-processing was of each pixel: the top softmax probability of the slot logits,
/// at the size it worked at (at most `PanopticPostProcessor.maxWorkPixels`, so a small map even
/// for a large image). Segment scores and the uncertainty map are read from it.
public struct ConfidenceMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major, in (0, 1].
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "\(values.count) values for \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
    }

    /// The value for pixel (x, y) of a `outputWidth x outputHeight` image (nearest, as the
    /// post-processor upsamples its slots).
    @inline(__always)
    public func value(x: Int, y: Int, outputWidth: Int, outputHeight: Int) -> Float {
        values[(y * height / outputHeight) * width + x * width / outputWidth]
    }
}
