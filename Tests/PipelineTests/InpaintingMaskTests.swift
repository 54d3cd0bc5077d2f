import XCTest
import Pipeline
import Imaging

/// The mask decoding `segserve inpaint --mask-encoding` runs.
final class InpaintingMaskTests: XCTestCase {
    let slotCapacity = 127   // a 128-slot mask auto-encoder

    func testPaletteMaskRoundTripsEverySlotThroughPNG() throws {
        let (w, h) = (16, 8)
        let ids = (0..<(w * h)).map { UInt32($0 % (slotCapacity + 1)) }
        let png = try InpaintingMask.encodePalette(ids: ids, width: w, height: h, slotCapacity: slotCapacity)
        let decoded = try InpaintingMask.decode(png, encoding: .palette, slotCapacity: slotCapacity)
        XCTAssertEqual(decoded.width, w)
        XCTAssertEqual(decoded.height, h)
        XCTAssertEqual(decoded.ids, ids)
        // The HTTP service's definition of the palette encoding gives the same ids.
        let rgb = try PNGCodec.decode(png).pixels
        XCTAssertEqual(Palette(classes: slotCapacity + 1).decode(rgb).map(UInt32.init), ids)
        XCTAssertTrue(InpaintingMask.palette(slotCapacity: slotCapacity).color(0) == (255, 255, 255), "void is white")
    }

    func testPaletteMaskSnapsSlightlyOffColours() throws {
        let palette = InpaintingMask.palette(slotCapacity: slotCapacity)
        let ids: [UInt32] = [0, 1, 42, 127]
        var rgb = palette.paint(ids.map(Int.init))
        for i in rgb.indices { rgb[i] = UInt8(max(0, min(255, Int(rgb[i]) + (i % 2 == 0 ? -5 : 4)))) }
        let png = try PNGCodec.encode(RGBImage(width: 4, height: 1, pixels: rgb))
        XCTAssertEqual(try InpaintingMask.decode(png, encoding: .palette, slotCapacity: slotCapacity).ids, ids)
    }

    func testCocoMaskDecodesPanopticIDs() throws {
        let ids: [UInt32] = [0, 1, 300, 70_000]
        let png = try PanopticPNG.encode(ids: ids, width: 2, height: 2)
        let decoded = try InpaintingMask.decode(png, encoding: .coco, slotCapacity: slotCapacity)
        XCTAssertEqual(decoded.ids, ids)
        XCTAssertEqual(InpaintingMaskEncoding(rawValue: "palette"), .palette)
        XCTAssertNil(InpaintingMaskEncoding(rawValue: "rgb"))
    }
}
