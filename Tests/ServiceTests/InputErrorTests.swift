import Pipeline
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

final class InputErrorTests: XCTestCase {
    /// One input error, two answers: a problem with its status at submission, a stored failure
    /// with the same code in the worker.
    func testSubmissionAndWorkerAnswerTheSameCode() {
        let cases: [(InputError, Int, String)] = [
            (.empty(part: "image"), 400, "bad-request"),
            (.tooManyPixels(part: "image", width: 9000, height: 9000, limit: 1000), 413, "too-large"),
            (.unsupportedFormat(part: "image", what: "GIF"), 415, "unsupported-media-type"),
            (.undecodable(part: "mask", reason: "corrupt JPEG"), 422, "undecodable"),
            (.sizeMismatch(part: "mask", width: 3, height: 4, imageWidth: 5, imageHeight: 6), 422, "size-mismatch"),
            (.tooManySegments(count: 200, capacity: 127), 422, "invalid-mask"),
            (.missingMask, 422, "invalid-mask"),
        ]
        for (error, status, code) in cases {
            let problem = APIError(error)
            XCTAssertEqual(problem.status.code, status, "\(error)")
            XCTAssertEqual(problem.slug, code)
            XCTAssertEqual(problem.detail, error.description)
            let failure = WorkerPool.failure(error)
            XCTAssertEqual(failure.code, code)
            XCTAssertEqual(failure.message, error.description)
        }
        XCTAssertEqual(InputError.sizeMismatch(part: "known", width: 3, height: 4, imageWidth: 5, imageHeight: 6).description,
                       "known is 3x4; the image is 5x6")
    }
}
