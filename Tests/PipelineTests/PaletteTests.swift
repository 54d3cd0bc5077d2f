import XCTest
@testable import Pipeline

final class PaletteTests: XCTestCase {
    func testPaletteRoundTripsAndSnapsNoisyColours() {
        let palette = Palette(classes: 133)
        XCTAssertEqual(palette.valuesPerChannel, 6)
        let labels = Array(0..<133)
        XCTAssertEqual(palette.decode(palette.paint(labels)), labels)
        var noisy = palette.paint([5, 77])
        noisy[0] = noisy[0] &- 9
        noisy[4] = noisy[4] &- 11
        XCTAssertEqual(palette.decode(noisy), [5, 77])
        XCTAssertTrue(palette.color(0) == (255, 255, 255))
    }
}
