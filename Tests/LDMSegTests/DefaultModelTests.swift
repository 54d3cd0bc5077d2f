import Foundation
import XCTest
@testable import LDMSeg

/// The embedded default model loads, and segments and inpaints through the runtime.
final class DefaultModelTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/default").path

    func testLoadsAndRuns() throws {
        let model = try LDMSegModel(directory: Self.directory)
        XCTAssertEqual(model.imageEncoder.latentChannels, 32)
        XCTAssertEqual(model.unet.inChannels, 36)
        var options = model.defaultOptions
        XCTAssertEqual(options.ensemble, Ensemble(seeds: 2, flip: true))  // config.json's defaults
        options.steps = 2
        let rgb = (0..<(96 * 64 * 3)).map { UInt8(($0 * 7) % 256) }
        let segmenter = Segmenter(model: model)
        let result = try segmenter.segment(rgb: rgb, width: 96, height: 64, options: options)
        XCTAssertEqual(result.ids.count, 96 * 64)
        let partial = (0..<(96 * 64)).map { UInt32($0 % 96 < 48 ? 7 : 0) }
        options.ensemble = Ensemble()  // inpainting runs once
        let inpainted = try segmenter.inpaint(rgb: rgb, width: 96, height: 64, partial: partial, options: options)
        for i in partial.indices where partial[i] != 0 { XCTAssertEqual(inpainted.ids[i], 7) }
    }
}
