import Imaging
import LDMSeg

/// One request's way from its encoded parts to a result: the parts decoded and checked, the
/// image segmented or its partial map completed on a worker's `Segmenter`, segments named by
/// a semantic map. The service's workers and `segserve segment` / `inpaint` both run it.
public struct SegmentationPipeline: Sendable {
    /// Most pixels in an image or mask.
    public var maxPixels: Int
    /// Categories a semantic label map indexes; nil: semantic parts are not used.
    public var categories: [PanopticCategory]?

    public init(maxPixels: Int, categories: [PanopticCategory]? = nil) {
        self.maxPixels = maxPixels
        self.categories = categories
    }

    /// The encoded parts of a request.
    public struct Parts: Sendable {
        public var image: [UInt8]
        /// Inpainting: the partial map, how it encodes ids, and optionally a PNG of the known pixels.
        public var mask: (bytes: [UInt8], encoding: InpaintingMaskEncoding, known: [UInt8]?)?
        /// A semantic label map (8-bit PNG, a category index per pixel).
        public var semantic: [UInt8]?

        public init(image: [UInt8], mask: (bytes: [UInt8], encoding: InpaintingMaskEncoding, known: [UInt8]?)? = nil,
                    semantic: [UInt8]? = nil) {
            self.image = image
            self.mask = mask
            self.semantic = semantic
        }
    }

    /// The decoded image and its panoptic result.
    public struct Output {
        public let image: RGBImage
        public let result: PanopticResult
    }

    /// Segments `parts.image`, or completes `parts.mask` when given. Bad parts throw
    /// `InputError`; the model's refusals and cancellation throw `LDMSegError`.
    public func run(_ parts: Parts, options: SegmentationOptions, on segmenter: Segmenter,
                    progress: Segmenter.Progress = { _, _ in }, isCancelled: () -> Bool = { false }) throws -> Output {
        let image = try InputDecoding.image(parts.image, maxPixels: maxPixels)
        var result: PanopticResult
        if let mask = parts.mask {
            let partial = try InputDecoding.mask(mask.bytes, known: mask.known, encoding: mask.encoding, width: image.width,
                                                 height: image.height, maxPixels: maxPixels,
                                                 slotCapacity: segmenter.model.maskAutoencoder.slots - 1)
            result = try segmenter.inpaint(rgb: image.pixels, width: image.width, height: image.height, partial: partial.ids,
                                           known: partial.known, options: options, progress: progress, isCancelled: isCancelled)
        } else {
            result = try segmenter.segment(rgb: image.pixels, width: image.width, height: image.height, options: options,
                                           progress: progress, isCancelled: isCancelled)
        }
        if let semantic = parts.semantic, let categories {
            let labels = try InputDecoding.semantic(semantic, width: image.width, height: image.height, maxPixels: maxPixels)
            result = result.categorised(labels: labels, categories: categories)
        }
        return Output(image: image, result: result)
    }
}
