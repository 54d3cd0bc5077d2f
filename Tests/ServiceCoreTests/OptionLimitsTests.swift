import Foundation
import LDMSeg
import TestSupport
import XCTest
import Yams

/// openapi.yaml states the option ranges the API and the pipeline enforce (`OptionLimits`).
final class OptionLimitsTests: XCTestCase {
    func testOpenAPIRangesAreOptionLimits() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let spec = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
        let schemas = try XCTUnwrap((spec["components"] as? [String: Any])?["schemas"] as? [String: Any])
        func bounds(_ schema: [String: Any]) -> [String: Double] {
            var out: [String: Double] = [:]
            for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"] {
                if let v = schema[key] as? Int { out[key] = Double(v) } else if let v = schema[key] as? Double { out[key] = v }
            }
            return out
        }
        func schema(_ name: String) throws -> [String: Any] { try XCTUnwrap(schemas[name] as? [String: Any], name) }
        func closed<T: BinaryInteger>(_ r: ClosedRange<T>) -> [String: Double] { ["minimum": Double(r.lowerBound), "maximum": Double(r.upperBound)] }
        func closed(_ r: ClosedRange<Double>) -> [String: Double] { ["minimum": r.lowerBound, "maximum": r.upperBound] }
        XCTAssertEqual(bounds(try schema("Steps")), closed(OptionLimits.steps))
        XCTAssertEqual(bounds(try schema("Seed")), closed(OptionLimits.seed))
        XCTAssertEqual(bounds(try schema("DeepCache")), closed(OptionLimits.deepCache))
        XCTAssertEqual(bounds(try schema("CountTh")), closed(OptionLimits.countTh))
        XCTAssertEqual(bounds(try schema("MaskTh")), ["exclusiveMinimum": OptionLimits.maskTh.lowerBound, "exclusiveMaximum": OptionLimits.maskTh.upperBound])
        XCTAssertEqual(bounds(try schema("OverlapTh")), closed(OptionLimits.overlapTh))
        XCTAssertEqual(bounds(try schema("MinScore")), closed(OptionLimits.minScore))
        XCTAssertEqual(bounds(try schema("Resolution")), closed(OptionLimits.resolution).merging(["multipleOf": Double(OptionLimits.resolutionMultiple)]) { a, _ in a })
        let segmentation = try XCTUnwrap(try schema("SegmentationOptions")["properties"] as? [String: Any])
        XCTAssertEqual(bounds(try XCTUnwrap(segmentation["ensemble_seeds"] as? [String: Any])), closed(OptionLimits.ensembleSeeds))
    }
}
