import Foundation
import XCTest
@testable import Imaging

final class ImagingTests: XCTestCase {
    /// A photo from the repository's fixtures (Tests/Fixtures/photos, CC BY; see ATTRIBUTION.md there).
    func sampleJPEG() throws -> [UInt8] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/photos")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jpg") }.sorted()
        let first = try XCTUnwrap(files.first, "no JPEG in \(dir.path)")
        return [UInt8](try Data(contentsOf: dir.appendingPathComponent(first)))
    }

    func testPNGRoundTripRGBAndGray() throws {
        let image = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        let png = try PNGCodec.encode(image)
        XCTAssertEqual(ImageFormat(sniffing: png), .png)
        XCTAssertEqual(try ImageDecoder.decode(png), image)
        XCTAssertEqual(try PNGCodec.size(png).width, 5)
        let gray = try PNGCodec.encodeGray([0, 128, 255, 7], width: 2, height: 2)
        XCTAssertEqual(try PNGCodec.decodeGray(gray).values, [0, 128, 255, 7])
        XCTAssertEqual(try PNGCodec.decode(gray).pixels, [0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7], "gray expands to RGB")
    }

    /// Rows written one at a time make the same picture, also past libpng's first output buffer
    /// (a large noisy image), and an empty image is a typed error.
    func testPNGWrittenRowByRow() throws {
        var generator = SystemRandomNumberGenerator()
        let noise = RGBImage(width: 700, height: 500, pixels: (0..<(700 * 500 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let png = try PNGCodec.encode(noise)
        XCTAssertGreaterThan(png.count, 700 * 500 * 3, "noise does not compress")
        XCTAssertEqual(try PNGCodec.decode(png), noise)
        let rows = try PNGCodec.encodeRows(width: 3, height: 2, channels: 1) { y, row in
            for x in 0..<3 { row[x] = UInt8(10 * y + x) }
        }
        XCTAssertEqual(try PNGCodec.decodeGray(rows).values, [0, 1, 2, 10, 11, 12])
        XCTAssertThrowsError(try PNGCodec.encodeRows(width: 0, height: 2, channels: 3) { _, _ in }) {
            XCTAssertEqual($0 as? ImagingError, .emptyImage)
        }
    }

    /// The overlay: void pixels as they were, segment borders white, insides tinted halfway to
    /// the segment's colour.
    func testOverlayTintsSegmentsAndWhitensTheirBorders() throws {
        let image = RGBImage(width: 6, height: 3, repeating: 100)
        let ids: [UInt32] = [0, 0, 7, 7, 7, 7,
                             0, 0, 7, 7, 7, 7,
                             0, 0, 7, 7, 7, 7]
        let overlay = try PNGCodec.decode(try PanopticOverlay.encodePNG(image, ids: ids))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(overlay.pixels[(3 * (y * 6 + x))..<(3 * (y * 6 + x) + 3)]) }
        XCTAssertEqual(pixel(0, 1), [100, 100, 100], "void")
        XCTAssertEqual(pixel(2, 1), [255, 255, 255], "border with void")
        let c = PanopticOverlay.colour(7)
        XCTAssertEqual(pixel(4, 1), [c.0, c.1, c.2].map { UInt8((100 + ($0 - 100) * PanopticOverlay.opacity).rounded()) })
    }

    func testPanopticIdsRoundTrip() throws {
        let ids: [UInt32] = [0, 1, 255, 256, 65_536 + 3, 16_777_215]
        let png = try PanopticPNG.encode(ids: ids, width: 3, height: 2)
        let back = try PanopticPNG.decode(png)
        XCTAssertEqual(back.ids, ids)
    }

    func testRealJPEGDecodes() throws {
        let jpeg = try sampleJPEG()
        let image = try ImageDecoder.decode(jpeg)
        XCTAssertGreaterThan(image.width, 100)
        XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
        XCTAssertGreaterThan(Set(image.pixels.prefix(3000)).count, 10, "pixels are not constant")
    }

    func testCorruptAndTruncatedInputsAreTypedErrors() throws {
        XCTAssertThrowsError(try ImageDecoder.decode([])) { XCTAssertTrue($0 is ImagingError) }
        XCTAssertThrowsError(try ImageDecoder.decode(Array("GIF89a....".utf8))) {
            guard case ImagingError.unsupportedFormat = $0 else { return XCTFail("\($0)") }
        }
        let png = try PNGCodec.encode(RGBImage(width: 40, height: 40, repeating: 9))
        XCTAssertThrowsError(try ImageDecoder.decode(Array(png.prefix(png.count / 2)))) {
            guard case ImagingError.corrupt(format: "PNG", _) = $0 else { return XCTFail("\($0)") }
        }
        let jpeg = try sampleJPEG()
        XCTAssertThrowsError(try ImageDecoder.decode(Array(jpeg.prefix(200)))) {
            guard case ImagingError.corrupt(format: "JPEG", _) = $0 else { return XCTFail("\($0)") }
        }
    }

    /// A header claiming 60000 x 60000 pixels is refused from the header alone.
    func testPixelBombsAreRefusedBeforeDecoding() throws {
        var jpeg = try sampleJPEG()
        // Patch the SOF0/SOF2 frame size (FFC0/FFC2: length(2) precision(1) height(2) width(2)).
        var i = 2
        while i + 9 < jpeg.count {
            if jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2) {
                jpeg[i + 5] = 0xEA; jpeg[i + 6] = 0x60; jpeg[i + 7] = 0xEA; jpeg[i + 8] = 0x60
                break
            }
            i += 1
        }
        XCTAssertThrowsError(try ImageDecoder.decode(jpeg, maxPixels: 40_000_000)) {
            XCTAssertEqual($0 as? ImagingError, .tooManyPixels(width: 60_000, height: 60_000, limit: 40_000_000))
        }
        let png = try PNGCodec.encode(RGBImage(width: 300, height: 200, repeating: 1))
        XCTAssertThrowsError(try ImageDecoder.decode(png, maxPixels: 1000)) {
            XCTAssertEqual($0 as? ImagingError, .tooManyPixels(width: 300, height: 200, limit: 1000))
        }
    }
}
