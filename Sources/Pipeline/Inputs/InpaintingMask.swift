import Imaging

/// How an inpainting mask PNG encodes a segment id per pixel (the HTTP service's
/// `mask_encoding` option, same names and meaning).
public enum InpaintingMaskEncoding: String, Codable, Sendable, CaseIterable {
    /// COCO panoptic: id = R + 256 G + 256^2 B, 0 = void.
    case coco
    /// Painter palette colours for `slotCapacity + 1` classes: the nearest colour's index (L1)
    /// is the id, index 0 (white) = void.
    case palette
}

/// Inpainting masks as segment ids.
public enum InpaintingMask {
    /// The palette of colour-coded masks for a model with `slotCapacity` segment slots
    /// (the mask auto-encoder's slots minus the void one).
    public static func palette(slotCapacity: Int) -> Palette { Palette(classes: slotCapacity + 1) }

    /// Decodes a mask PNG to a segment id per pixel (0 = void).
    public static func decode(_ png: [UInt8], encoding: InpaintingMaskEncoding, slotCapacity: Int,
                              maxPixels: Int = .max) throws -> (width: Int, height: Int, ids: [UInt32]) {
        switch encoding {
        case .coco:
            return try PanopticPNG.decode(png, maxPixels: maxPixels)
        case .palette:
            let image = try PNGCodec.decode(png, maxPixels: maxPixels)
            return (image.width, image.height, palette(slotCapacity: slotCapacity).decode(image.pixels).map(UInt32.init))
        }
    }

    /// Paints ids `0...slotCapacity` (0 = void) as a colour-coded mask PNG that `decode` reads back.
    public static func encodePalette(ids: [UInt32], width: Int, height: Int, slotCapacity: Int) throws -> [UInt8] {
        precondition(ids.allSatisfy { $0 <= UInt32(slotCapacity) }, "palette masks hold ids 0...\(slotCapacity)")
        let rgb = palette(slotCapacity: slotCapacity).paint(ids.map(Int.init))
        return try PNGCodec.encode(RGBImage(width: width, height: height, pixels: rgb))
    }
}
