import Foundation
import XCTest
@testable import Conversion

final class ConverterOutputTests: XCTestCase {
    /// Floats in config.json are spelled as Python's repr spells them.
    func testFloatsAreWrittenAsPythonWritesThem() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/floats", withExtension: "json"))
        let pairs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[Any]])
        XCTAssertGreaterThan(pairs.count, 10)
        for pair in pairs {
            let text = try XCTUnwrap(pair[1] as? String)
            let value = try XCTUnwrap(Double(text))
            XCTAssertEqual(PythonJSON.repr(value), text)
        }
        XCTAssertEqual(PythonJSON.repr(.nan), "NaN")
        XCTAssertEqual(PythonJSON.repr(-.infinity), "-Infinity")
    }

    func testNestingAndEscapesFollowJSONDump() {
        let value = PythonJSON.object([("a", .array([.int(1), .float(2)])), ("b", .object([])), ("c", .array([])),
                                       ("d\"\n", .string("é😀\u{1}"))])
        XCTAssertEqual(value.dumped(), "{\n  \"a\": [\n    1,\n    2.0\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\\\"\\n\": \"\\u00e9\\ud83d\\ude00\\u0001\"\n}")
    }

    func testModelNamesAndRenames() {
        XCTAssertEqual(LDMSegConverter.stem("/x/ldmseg.pt"), "ldmseg")
        XCTAssertEqual(LDMSegConverter.stem("a.b.pt"), "a.b")
        XCTAssertEqual(LDMSegConverter.stem(".pt"), ".pt")
        XCTAssertEqual(LDMSegConverter.stem("..pt"), "..pt")
        XCTAssertEqual(LDMSegConverter.stem("dir.v2/model"), "model")
        XCTAssertEqual(LDMSegConverter.renameOldVAEAttention("encoder.mid_block.attentions.0.query.weight"),
                       "encoder.mid_block.attentions.0.to_q.weight")
        XCTAssertEqual(LDMSegConverter.renameOldVAEAttention("encoder.mid_block.attentions.0.proj_attn.bias"),
                       "encoder.mid_block.attentions.0.to_out.0.bias")
        XCTAssertEqual(LDMSegConverter.renameOldVAEAttention("encoder.query.weight"), "encoder.query.weight", "not an attention")
    }
}
