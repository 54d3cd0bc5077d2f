import Foundation
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
