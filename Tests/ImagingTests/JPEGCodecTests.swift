import Foundation
import NNRuntime
import XCTest
@testable import Imaging

/// JPEGs as cameras and editors write them, and as an attacker would cut them
/// (`Fixtures/` from tools/reference/make_image_fixtures.py).
final class JPEGCodecTests: XCTestCase {
    func fixture(_ name: String) throws -> [UInt8] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil), name)
        return [UInt8](try Data(contentsOf: url))
    }

    /// Mean and largest per-channel difference from the source picture.
    func difference(_ image: RGBImage, _ source: RGBImage) -> (mean: Double, max: Int) {
        XCTAssertEqual([image.width, image.height], [source.width, source.height])
        var total = 0, largest = 0
        for (a, b) in zip(image.pixels, source.pixels) {
            let d = abs(Int(a) - Int(b))
            total += d
            largest = max(largest, d)
        }
        return (Double(total) / Double(max(1, source.pixels.count)), largest)
    }

    func assertRefused(_ jpeg: [UInt8], saying expected: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageDecoder.decode(jpeg), file: file, line: line) { error in
            guard case ImagingError.corrupt(format: "JPEG", let reason) = error else {
                return XCTFail("\(error)", file: file, line: line)
            }
            if let expected { XCTAssertTrue(reason.contains(expected), "\(reason)", file: file, line: line) }
        }
    }

    /// Each kind decodes as Pillow decodes it, and close to the picture it encodes.
    func testColourKindsDecodeAsPillowDoes() throws {
        let source = try PNGCodec.decode(try fixture("source.png"))
        for name in ["baseline", "progressive", "cmyk", "gray"] {
            let image = try ImageDecoder.decode(try fixture("\(name).jpg"))
            let pillow = difference(image, try PNGCodec.decode(try fixture("\(name).pillow.png")))
            XCTAssertLessThan(pillow.mean, 0.5, name)
            XCTAssertLessThanOrEqual(pillow.max, 8, name)
            if name != "gray" { XCTAssertLessThan(difference(image, source).mean, 4, name) }
        }
    }

    /// Every EXIF orientation decodes to the picture a browser shows (Pillow's exif_transpose),
    /// and the size from the header alone is that picture's.
    func testExifOrientationIsApplied() throws {
        for orientation in 1...8 {
            let jpeg = try fixture("orientation\(orientation).jpg")
            XCTAssertEqual(ExifOrientation(jpeg: jpeg).rawValue, orientation)
            let image = try ImageDecoder.decode(jpeg)
            let shown = try PNGCodec.decode(try fixture("orientation\(orientation).pillow.png"))
            XCTAssertEqual([image.width, image.height], [shown.width, shown.height], "orientation \(orientation)")
            let size = try ImageDecoder.size(jpeg)
            XCTAssertEqual([size.width, size.height], [shown.width, shown.height], "orientation \(orientation)")
            let d = difference(image, shown)
            XCTAssertLessThan(d.mean, 0.5, "orientation \(orientation)")
            XCTAssertLessThanOrEqual(d.max, 8, "orientation \(orientation)")
        }
    }

    /// A mangled Exif segment is ignored (the stored orientation is used), never a crash.
    func testMangledExifIsIgnored() throws {
        let jpeg = try fixture("orientation6.jpg")
        let app1 = try XCTUnwrap((2..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xE1 })
        let length = Int(jpeg[app1 + 2]) << 8 | Int(jpeg[app1 + 3])
        var generator = SplitMix64(seed: 6)
        for _ in 0..<300 {
            var mangled = jpeg
            for _ in 0..<4 { mangled[app1 + 4 + Int.random(in: 0..<(length - 2), using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            _ = ExifOrientation(jpeg: mangled)
            _ = try? ImageDecoder.decode(mangled)
        }
        for cut in [app1 + 6, app1 + 12, app1 + 20] {  // the file ends inside the segment
            XCTAssertEqual(ExifOrientation(jpeg: Array(jpeg.prefix(cut))), .up)
        }
    }

    func testGarbageAfterTheMagicBytesIsRefused() {
        assertRefused([0xFF, 0xD8, 0xFF, 0x00])
        assertRefused([0xFF, 0xD8, 0xFF])
    }

    func testSecondStartOfImageIsRefused() throws {
        let jpeg = try fixture("baseline.jpg")
        assertRefused(Array(jpeg.prefix(2)) + jpeg, saying: "SOI")
    }

    func testTwelveBitJPEGIsRefusedByName() throws {
        var jpeg = try fixture("baseline.jpg")
        let sof = try XCTUnwrap(marker(0xC0, in: jpeg))
        jpeg[sof + 4] = 12  // the frame's sample precision
        XCTAssertThrowsError(try ImageDecoder.size(jpeg)) {
            XCTAssertTrue("\($0)".contains("12-bit JPEG"), "\($0)")
        }
    }

    func testTruncatedImageDataIsRefusedButAMissingEndMarkerIsNot() throws {
        for name in ["baseline.jpg", "progressive.jpg", "cmyk.jpg"] {
            let jpeg = try fixture(name)
            let start = try XCTUnwrap(marker(0xDA, in: jpeg), name)
            let cut = Array(jpeg.prefix(start + (jpeg.count - start) / 2))
            XCTAssertThrowsError(try ImageDecoder.decode(cut), name) {
                XCTAssertTrue("\($0)".contains("truncated") || "\($0)".contains("corrupt"), "\(name): \($0)")
            }
            let noEnd = Array(jpeg.dropLast(2))
            XCTAssertEqual(try ImageDecoder.decode(noEnd), try ImageDecoder.decode(jpeg), "\(name) without its EOI marker")
        }
        let baseline = try fixture("baseline.jpg")
        let start = try XCTUnwrap(marker(0xDA, in: baseline))
        assertRefused(Array(baseline.prefix(start + (baseline.count - start) / 2)), saying: "rows")
    }

    /// A few KB of repeated progressive scans would cost a full pass each.
    func testScanFloodIsRefused() throws {
        let jpeg = try fixture("progressive.jpg")
        let first = try XCTUnwrap(marker(0xDA, in: jpeg))
        let next = try XCTUnwrap(marker(nil, in: jpeg, from: first + 2))
        let scan = Array(jpeg[first..<next])
        let flooded = Array(jpeg[..<next]) + Array([[UInt8]](repeating: scan, count: 300).joined()) + Array(jpeg[next...])
        assertRefused(flooded, saying: "scans")
    }

    /// The offset of the first marker `FF code` (any marker but RST/padding when nil) at or after `from`.
    func marker(_ code: UInt8?, in jpeg: [UInt8], from: Int = 2) -> Int? {
        var i = from
        while i + 1 < jpeg.count {
            if jpeg[i] == 0xFF {
                let next = jpeg[i + 1]
                let isMarker = next != 0 && next != 0xFF && !(0xD0...0xD7).contains(next)
                if code.map({ next == $0 }) ?? isMarker { return i }
            }
            i += 1
        }
        return nil
    }
}
