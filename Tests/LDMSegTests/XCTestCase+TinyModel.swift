import Foundation
import XCTest
import LDMSeg

/// The tiny random-weight model and a test image, for fast end-to-end runs.
extension XCTestCase {
    func tinyModel() throws -> LDMSegModel {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_model", withExtension: nil))
        return try LDMSegModel(directory: dir.path)
    }

    /// A textured test image: left-right symmetric when `symmetric`.
    func image(width: Int, height: Int, symmetric: Bool = false) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let u = symmetric ? min(x, width - 1 - x) : x
                for c in 0..<3 { rgb[(y * width + x) * 3 + c] = UInt8((u * 37 + y * 11 + c * 90 + (u / 7) * (y / 5) * 13) % 256) }
            }
        }
        return rgb
    }
}
