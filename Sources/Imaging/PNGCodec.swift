import CPNG

/// PNG through libpng's simplified API (errors are returned, never longjmp'd into Swift).
public enum PNGCodec {
    static let formatGray: UInt32 = 0     // PNG_FORMAT_GRAY
    static let formatRGB: UInt32 = 2      // PNG_FORMAT_RGB (PNG_FORMAT_FLAG_COLOR)

    /// Width and height from the header, without decoding pixels.
    public static func size(_ data: [UInt8]) throws -> (width: Int, height: Int) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        try begin(&image, data)
        return (Int(image.width), Int(image.height))
    }

    /// Decodes any PNG (gray, palette, 16-bit, alpha, interlaced) to 8-bit RGB; alpha is dropped.
    public static func decode(_ data: [UInt8], maxPixels: Int = .max) throws -> RGBImage {
        let (w, h, bytes) = try read(data, format: formatRGB, channels: 3, maxPixels: maxPixels)
        return RGBImage(width: w, height: h, pixels: bytes)
    }

    /// Decodes to one 8-bit gray channel per pixel (colour images are converted).
    public static func decodeGray(_ data: [UInt8], maxPixels: Int = .max) throws -> (width: Int, height: Int, values: [UInt8]) {
        try read(data, format: formatGray, channels: 1, maxPixels: maxPixels)
    }

    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        try write(image.pixels, width: image.width, height: image.height, format: formatRGB)
    }

    public static func encodeGray(_ values: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        try write(values, width: width, height: height, format: formatGray)
    }

    private static func begin(_ image: inout png_image, _ data: [UInt8]) throws {
        guard !data.isEmpty else { throw ImagingError.corrupt(format: "PNG", reason: "no data") }
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard ok != 0 else { throw ImagingError.corrupt(format: "PNG", reason: message(image)) }
    }

    private static func read(_ data: [UInt8], format: UInt32, channels: Int, maxPixels: Int) throws -> (Int, Int, [UInt8]) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        try begin(&image, data)
        let w = Int(image.width), h = Int(image.height)
        guard w > 0, h > 0 else { throw ImagingError.emptyImage }
        guard w * h <= maxPixels else { throw ImagingError.tooManyPixels(width: w, height: h, limit: maxPixels) }
        image.format = format
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let ok = out.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw ImagingError.corrupt(format: "PNG", reason: message(image)) }
        return (w, h, out)
    }

    private static func write(_ pixels: [UInt8], width: Int, height: Int, format: UInt32) throws -> [UInt8] {
        guard width > 0, height > 0 else { throw ImagingError.emptyImage }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = format
        defer { png_image_free(&image) }
        var size = 0
        // First call sizes the output, second writes it.
        let sized = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0 else { throw ImagingError.corrupt(format: "PNG", reason: message(image)) }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw ImagingError.corrupt(format: "PNG", reason: message(image)) }
        return Array(out.prefix(size))
    }

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
