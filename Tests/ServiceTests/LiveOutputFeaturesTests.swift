import Pipeline
import Foundation
import Imaging
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

/// Colour-coded inpainting masks and categorised output from a semantic map, end to end.
final class LiveOutputFeaturesTests: XCTestCase {
    func testPaletteCodedInpaintingMask() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let image = testImage()
        // Painted with the palette of as many colours as the model has slots (index 0 = void).
        let palette = Palette(classes: harness.service.model.maskAutoencoder.slots)
        var labels = [Int](repeating: 0, count: image.width * image.height)
        for i in 0..<(image.width * 15) { labels[i] = 3 }
        for i in (image.width * 45)..<labels.count { labels[i] = 12 }
        let mask = try PNGCodec.encode(RGBImage(width: image.width, height: image.height, pixels: palette.paint(labels)))
        let body = multipart([("image", "image/png", try pngBytes(image)), ("mask", "image/png", mask),
                              ("options", "application/json", Array(#"{"mask_encoding": "palette"}"#.utf8))])
        let job = try harness.submit("/v1/inpaintings", body: body)
        XCTAssertEqual((job["options"] as? [String: Any])?["mask_encoding"] as? String, "palette")
        XCTAssertEqual(try harness.finished(job["id"] as! String)["state"] as? String, "succeeded")
        let result = try PanopticPNG.decode(try harness.request("GET", "/v1/jobs/\(job["id"] as! String)/panoptic.png").body)
        for i in labels.indices where labels[i] != 0 { XCTAssertEqual(result.ids[i], UInt32(labels[i])) }
    }

    func testSemanticMapGivesCategories() throws {
        let categories = FileManager.default.temporaryDirectory.appendingPathComponent("categories-\(UUID().uuidString).json")
        try Data(#"[{"id": 7, "name": "person", "isthing": 1}, {"id": 21, "name": "sky", "isthing": 0}]"#.utf8).write(to: categories)
        defer { try? FileManager.default.removeItem(at: categories) }
        let harness = try ServiceHarness { $0.categoriesPath = categories.path }
        defer { harness.stop() }
        let image = testImage()
        // Left half: category index 0 (person), right half: index 1 (sky).
        let labels = (0..<(image.width * image.height)).map { UInt8($0 % image.width < image.width / 2 ? 0 : 1) }
        let body = multipart([("image", "image/png", try pngBytes(image)),
                              ("semantic", "image/png", try PNGCodec.encodeGray(labels, width: image.width, height: image.height)),
                              ("options", "application/json", Array(#"{"mask_th": 0.01, "count_th": 0, "overlap_th": 0}"#.utf8))])
        let job = try harness.submit(body: body)
        XCTAssertEqual(try harness.finished(job["id"] as! String)["state"] as? String, "succeeded")
        let id = job["id"] as! String
        let panoptic = try PanopticPNG.decode(try harness.request("GET", "/v1/jobs/\(id)/panoptic.png").body)
        let segments = try XCTUnwrap(try harness.json(try harness.request("GET", "/v1/jobs/\(id)/segments.json"))["segments_info"]
            as? [[String: Any]])
        XCTAssertFalse(segments.isEmpty)
        let category = Dictionary(uniqueKeysWithValues: segments.map { (UInt32($0["id"] as! Int), $0["category_id"] as! Int) })
        XCTAssertTrue(Set(category.values).isSubset(of: [7, 21]), "\(category)")
        // Every segment takes the majority category of its pixels; stuff (sky) is one segment.
        var votes: [UInt32: [Int: Int]] = [:]
        for (i, segment) in panoptic.ids.enumerated() where segment != 0 {
            votes[segment, default: [:]][Int(labels[i]) == 0 ? 7 : 21, default: 0] += 1
        }
        for (segment, v) in votes {
            XCTAssertEqual(category[segment], v.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key)
        }
        XCTAssertLessThanOrEqual(category.values.filter { $0 == 21 }.count, 1)
    }
}
