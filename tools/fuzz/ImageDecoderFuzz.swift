// libFuzzer harness: an uploaded image (PNG or JPEG by signature) through `ImageDecoder`, as the
// service decodes uploads, with a pixel limit so huge headers are refused before allocation.

@_cdecl("LLVMFuzzerTestOneInput")
public func imageDecoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let maxPixels = 1 << 22
    if let (width, height) = try? ImageDecoder.size(bytes) {
        precondition(width > 0 && height > 0, "a decoded size is positive")
    }
    if let image = try? ImageDecoder.decode(bytes, maxPixels: maxPixels) {
        precondition(image.width * image.height <= maxPixels, "the pixel limit holds")
        precondition(image.pixels.count == image.width * image.height * 3, "RGB8 buffer size")
    }
    return 0
}
