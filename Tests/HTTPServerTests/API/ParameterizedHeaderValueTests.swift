import XCTest
import HTTPServer

final class ParameterizedHeaderValueTests: XCTestCase {
    func testParsesTokensAndQuotedStrings() throws {
        let value = try XCTUnwrap(ParameterizedHeaderValue(parsing: " form-data ; Name=\"a \\\"b\\\" ;c\" ;filename=x.png;; "))
        XCTAssertEqual(value.value, "form-data")
        XCTAssertTrue(value.hasValue("FORM-DATA"))
        XCTAssertEqual(value.parameter("name"), "a \"b\" ;c")
        XCTAssertEqual(value.parameter("FILENAME"), "x.png")
        XCTAssertEqual(value.parameters.count, 2)
    }

    func testFirstRepeatedParameterWins() {
        XCTAssertEqual(ParameterizedHeaderValue(parsing: "text/plain; a=1; A=2")?.parameter("a"), "1")
    }

    func testValueWithoutParameters() {
        XCTAssertEqual(ParameterizedHeaderValue(parsing: "image/png"), ParameterizedHeaderValue(parsing: " image/png "))
        XCTAssertEqual(ParameterizedHeaderValue(parsing: "image/png")?.parameters, [:])
    }

    func testMalformedParametersAreRejected() {
        for text in ["a; b", "a; =c", "a; b=", "a; b=\"open", "a; b=c d", "a; b=\"x\"y", "a; b=\"ctl\u{1}\""] {
            XCTAssertNil(ParameterizedHeaderValue(parsing: text), text)
        }
    }
}
