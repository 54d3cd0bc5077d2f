/// Picks the codec from the leading bytes, so a client's Content-Type need not be trusted.
public enum ImageFormat: String, Sendable {
    case png, jpeg

    public init?(sniffing data: [UInt8]) {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if data.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else {
            return nil
        }
    }

}

public enum ImageDecoder {
    /// Decodes PNG or JPEG to RGB as it is shown (a JPEG's EXIF orientation applied), checking
    /// the pixel count from the header first so an oversized image is refused before its pixels
    /// are allocated.
    public static func decode(_ data: [UInt8], maxPixels: Int = .max) throws -> RGBImage {
        switch ImageFormat(sniffing: data) {
        case .png?: return try PNGCodec.decode(data, maxPixels: maxPixels)
        case .jpeg?: return orientation(data).applied(to: try JPEGCodec.decode(data, maxPixels: maxPixels))
        case nil: throw ImagingError.unsupportedFormat("not a PNG or JPEG (leading bytes \(data.prefix(4).map { String($0, radix: 16) }))")
        }
    }

    /// The EXIF orientation `decode` applies: a JPEG's own, `.up` for anything else.
    public static func orientation(_ data: [UInt8]) -> ExifOrientation {
        ImageFormat(sniffing: data) == .jpeg ? ExifOrientation(jpeg: data) : .up
    }

    /// Width and height as shown, from the header alone.
    public static func size(_ data: [UInt8]) throws -> (width: Int, height: Int) {
        switch ImageFormat(sniffing: data) {
        case .png?: return try PNGCodec.size(data)
        case .jpeg?:
            let stored = try JPEGCodec.size(data)
            return orientation(data).swapsAxes ? (stored.height, stored.width) : stored
        case nil: throw ImagingError.unsupportedFormat("not a PNG or JPEG")
        }
    }
}
