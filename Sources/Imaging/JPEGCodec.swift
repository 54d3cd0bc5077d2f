import CImageShims

/// JPEG through libjpeg(-turbo); grayscale and YCbCr decode to RGB.
public enum JPEGCodec {
    public static func size(_ data: [UInt8]) throws -> (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = data.withUnsafeBufferPointer { segserve_jpeg_size($0.baseAddress, $0.count, &w, &h, &err, err.count) }
        guard rc == 0 else { throw ImagingError.corrupt(format: "JPEG", reason: String(cString: err)) }
        return (Int(w), Int(h))
    }

    public static func decode(_ data: [UInt8], maxPixels: Int = .max) throws -> RGBImage {
        let (w, h) = try size(data)
        guard w > 0, h > 0 else { throw ImagingError.emptyImage }
        guard w * h <= maxPixels else { throw ImagingError.tooManyPixels(width: w, height: h, limit: maxPixels) }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        var err = [CChar](repeating: 0, count: 256)
        let rc = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer {
                segserve_jpeg_decode_rgb($0.baseAddress, $0.count, dst.baseAddress, Int32(w), Int32(h), &err, err.count)
            }
        }
        guard rc == 0 else { throw ImagingError.corrupt(format: "JPEG", reason: String(cString: err)) }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
