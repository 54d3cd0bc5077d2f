import CImageShims
import CPNG

/// PNG through libpng: reading by its simplified API, writing row by row through a C shim
/// (either way errors are returned, never longjmp'd into Swift).
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
        try encode(copying: image.pixels, width: image.width, height: image.height, channels: 3)
    }

    public static func encodeGray(_ values: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        try encode(copying: values, width: width, height: height, channels: 1)
    }

    private static func encode(copying pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        return try pixels.withUnsafeBufferPointer { source in
            try encodeRows(width: width, height: height, channels: channels) { y, row in
                _ = row.initialize(from: source[(y * row.count)..<((y + 1) * row.count)])
            }
        }
    }

    /// Encodes an 8-bit gray (1 channel) or RGB (3) PNG whose rows `fill` writes, top to bottom,
    /// into a buffer of `width * channels` bytes: a large image is encoded without ever holding
    /// all of its unencoded pixels.
    public static func encodeRows(width: Int, height: Int, channels: Int,
                                  _ fill: (_ y: Int, _ row: UnsafeMutableBufferPointer<UInt8>) -> Void) throws -> [UInt8] {
        guard width > 0, height > 0 else { throw ImagingError.emptyImage }
        typealias Source = (fill: (Int, UnsafeMutableBufferPointer<UInt8>) -> Void, rowBytes: Int)
        return try withoutActuallyEscaping(fill) { fill in
            var source: Source = (fill, width * channels)
            var out: UnsafeMutablePointer<UInt8>?
            var length = 0
            var message = [CChar](repeating: 0, count: 256)
            let status = withUnsafeMutablePointer(to: &source) { context in
                segserve_png_write_rows(Int32(width), Int32(height), Int32(channels), { context, y, row in
                    let source = context!.assumingMemoryBound(to: Source.self).pointee
                    source.fill(Int(y), UnsafeMutableBufferPointer(start: row, count: source.rowBytes))
                }, context, &out, &length, &message, message.count)
            }
            defer { segserve_png_free(out) }
            guard status == 0, let out else {
                throw ImagingError.corrupt(format: "PNG", reason: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return Array(UnsafeBufferPointer(start: out, count: length))
        }
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

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
