import XCTest
import HTTPServer

final class MultipartFormDataTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testFieldsAndFilesWithPreambleAndEpilogue() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x2D, 0x2D, 0x0D, 0x0A, 0x2D]
        let body = bytes("preamble text\r\n--XyZ\r\nContent-Disposition: form-data; name=\"options\"\r\n"
            + "Content-Type: application/json\r\n\r\n{\"steps\":50}\r\n--XyZ  \r\n"
            + "Content-Disposition: form-data; name=\"image\"; filename=\"cat \\\"1\\\".png\"\r\nContent-Type: image/png\r\n\r\n")
            + png + bytes("\r\n--XyZ--\r\nepilogue\r\n--XyZ\r\nignored")
        let form = try MultipartFormData(body: body, contentType: "multipart/form-data; boundary=XyZ")
        XCTAssertEqual(form.parts.count, 2)
        let options = try XCTUnwrap(form.part(named: "options"))
        XCTAssertEqual(options.text, "{\"steps\":50}")
        XCTAssertEqual(options.contentType, "application/json")
        XCTAssertNil(options.filename)
        let image = try XCTUnwrap(form.part(named: "image"))
        XCTAssertEqual(image.body, png, "binary content with CRLF and dashes survives")
        XCTAssertEqual(image.filename, "cat \"1\".png")
        XCTAssertEqual(image.contentType, "image/png")
        XCTAssertEqual(image.headers["content-disposition"]?.hasPrefix("form-data"), true)
        XCTAssertNil(form.part(named: "missing"))
    }

    func testQuotedBoundaryWithSpacesAndCaseInsensitiveMediaType() throws {
        let boundary = "a'()+_,-./:=? z"
        let contentType = "Multipart/Form-Data; charset=utf-8; BOUNDARY=\"\(boundary)\""
        XCTAssertEqual(try MultipartFormData.boundary(fromContentType: contentType), boundary)
        let body = bytes("--\(boundary)\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--\(boundary)--")
        XCTAssertEqual(try MultipartFormData(body: body, contentType: contentType).parts.map(\.text), ["1"])
    }

    func testEmptyPartsAndLookalikeBoundaries() throws {
        let body = bytes("--b\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
            + "--b\r\nContent-Disposition: form-data; name=\"tricky\"\r\n\r\nline\r\n--bx\r\n--\r\n-b\r\n--b--")
        let form = try MultipartFormData(body: body, boundary: "b")
        XCTAssertEqual(form.parts.map(\.name), ["empty", "tricky"])
        XCTAssertEqual(form.parts[0].body, [])
        XCTAssertEqual(form.parts[1].text, "line\r\n--bx\r\n--\r\n-b")
        XCTAssertNil(form.parts[1].contentType)
    }

    func testBodyWithOnlyTheClosingDelimiterHasNoParts() throws {
        XCTAssertEqual(try MultipartFormData(body: bytes("--b--\r\n"), boundary: "b").parts, [])
    }

    func testLookalikeDelimitersInThePreambleAreSkipped() throws {
        let disposition = "Content-Disposition: form-data; name=\"f\"\r\n"
        XCTAssertEqual(try MultipartFormData(body: bytes("--bX\r\n\(disposition)\r\none\r\n--b--"), boundary: "b").parts, [])
        XCTAssertEqual(try MultipartFormData(body: bytes("--b\n\(disposition)\r\none\r\n--b--"), boundary: "b").parts, [],
                       "LF alone does not end a delimiter line")
        let form = try MultipartFormData(body: bytes("--bb\r\n--b\t \r\n\(disposition)\r\none\r\n--b--"), boundary: "b")
        XCTAssertEqual(form.parts.map(\.text), ["one"])
    }

    func testContentTypeErrors() {
        XCTAssertThrowsError(try MultipartFormData.boundary(fromContentType: "application/json")) {
            XCTAssertEqual($0 as? MultipartError, .notMultipartFormData(contentType: "application/json"))
        }
        XCTAssertThrowsError(try MultipartFormData.boundary(fromContentType: "multipart/form-data")) {
            XCTAssertEqual($0 as? MultipartError, .missingBoundary(contentType: "multipart/form-data"))
        }
        XCTAssertThrowsError(try MultipartFormData.boundary(fromContentType: "multipart/form-data; boundary=\"open")) {
            XCTAssertEqual($0 as? MultipartError, .notMultipartFormData(contentType: "multipart/form-data; boundary=\"open"))
        }
    }

    func testInvalidBoundaries() {
        for boundary in ["", String(repeating: "a", count: 71), "ends with space ", "bad@char", "tab\tinside"] {
            XCTAssertThrowsError(try MultipartFormData(body: bytes("--x--"), boundary: boundary), boundary) {
                XCTAssertEqual($0 as? MultipartError, .invalidBoundary(boundary))
            }
        }
        XCTAssertNoThrow(try MultipartFormData(body: bytes("--\(String(repeating: "a", count: 70))--"), boundary: String(repeating: "a", count: 70)))
    }

    func testStructuralErrors() {
        let disposition = "Content-Disposition: form-data; name=\"f\"\r\n"
        let cases: [(String, MultipartError)] = [
            ("no delimiter at all", .missingFirstBoundary(boundary: "b")),
            ("x--b\r\n", .missingFirstBoundary(boundary: "b")),
            ("--b\r\n\(disposition)\r\ncontent without end", .missingClosingBoundary(partsParsed: 0)),
            ("--b\r\n\(disposition)\r\none\r\n--b", .missingClosingBoundary(partsParsed: 1)),
            ("--b\r\n\(disposition)\r\none\r\n--b\r", .missingClosingBoundary(partsParsed: 1)),
            ("--b\r\n\(disposition)", .missingClosingBoundary(partsParsed: 0)),
            ("--b \rX\(disposition)\r\none\r\n--b--", .malformedBoundaryLine(partIndex: 0)),
            ("--b\r\n\(disposition) folded\r\n\r\none\r\n--b--",
             .malformedPartHeaders(partIndex: 0, reason: "obsolete line folding is not accepted (line ' folded')")),
            ("--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b--", .missingContentDisposition(partIndex: 0)),
            ("--b\r\n\(disposition)\r\none\r\n--b\r\nContent-Disposition: attachment; name=x\r\n\r\ntwo\r\n--b--",
             .invalidContentDisposition(partIndex: 1, value: "attachment; name=x")),
            ("--b\r\nContent-Disposition: form-data; filename=a.png\r\n\r\ntwo\r\n--b--",
             .invalidContentDisposition(partIndex: 0, value: "form-data; filename=a.png")),
        ]
        for (body, expected) in cases {
            XCTAssertThrowsError(try MultipartFormData(body: bytes(body), boundary: "b"), body) { error in
                XCTAssertEqual(error as? MultipartError, expected, body)
                XCTAssertFalse((error as? MultipartError)?.description.isEmpty ?? true)
            }
        }
    }

    func testRequestConvenienceUsesItsContentType() throws {
        let body = bytes("--q\r\nContent-Disposition: form-data; name=\"mask\"\r\n\r\nM\r\n--q--\r\n")
        let request = HTTPRequest(method: .post, target: "/v1/inpaintings", headers: ["Content-Type": "multipart/form-data; boundary=q"], body: body)
        XCTAssertEqual(try request.multipartFormData().part(named: "mask")?.text, "M")
        XCTAssertThrowsError(try HTTPRequest(method: .post, target: "/", body: body).multipartFormData()) {
            XCTAssertEqual($0 as? MultipartError, .notMultipartFormData(contentType: ""))
        }
    }
}
