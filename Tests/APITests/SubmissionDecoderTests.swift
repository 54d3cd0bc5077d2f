import HTTPServer
import Imaging
import JobStore
import Pipeline
import LDMSeg
import NNRuntime
@testable import API
@testable import ServiceCore
import TestSupport
import XCTest

/// Request validation without sockets: every refusal a client can get before a job exists.
final class SubmissionDecoderTests: XCTestCase {
    let decoder = SubmissionDecoder(
        defaults: SegmentationOptions(steps: 4, seed: 0, resolution: 64,
                                      postProcessing: PostProcessingOptions(maskThreshold: 0.5, countThreshold: 8, overlapThreshold: 0.2)),
        trainSteps: 50, maxPixels: 10_000, slotCapacity: 3, acceptsSemantic: false)

    func request(_ target: String = "/v1/segmentations", contentType: String?, body: [UInt8], framed: Bool = true) -> HTTPRequest {
        var headers: HTTPHeaders = [:]
        if let contentType { headers["Content-Type"] = contentType }
        if framed { headers["Content-Length"] = "\(body.count)" }
        return HTTPRequest(method: .post, target: target, headers: headers, body: body)
    }

    func refusal(_ request: HTTPRequest, kind: JobKind = .segmentation) -> APIError? {
        do { _ = try decoder.decode(request, kind: kind); return nil } catch { return error }
    }

    func assertRefused(_ request: HTTPRequest, kind: JobKind = .segmentation, _ status: Int, _ text: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let error = refusal(request, kind: kind) else { return XCTFail("accepted", file: file, line: line) }
        XCTAssertEqual(error.status.code, status, error.detail, file: file, line: line)
        XCTAssertTrue(error.detail.contains(text), "'\(error.detail)' should contain '\(text)'", file: file, line: line)
    }

    func testRawImageWithQueryOptions() throws {
        let png = try pngBytes()
        let submission = try decoder.decode(request("/v1/segmentations?steps=2&seed=9&mask_th=0.3", contentType: "image/png", body: png),
                                            kind: .segmentation)
        XCTAssertEqual(submission.options.steps, 2)
        XCTAssertEqual(submission.options.seed, 9)
        XCTAssertEqual(submission.options.maskTh, 0.3)
        XCTAssertEqual(submission.options.resolution, 64)
        XCTAssertEqual(submission.input.image, Data(png))
        XCTAssertNil(submission.options.maskEncoding)
    }

    func testEnsembleOptionsForSegmentationOnly() throws {
        let png = try pngBytes()
        let plain = try decoder.decode(request(contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(plain.options.segmentation.ensemble, Ensemble())
        let ensembled = try decoder.decode(request("/v1/segmentations?ensemble_seeds=3&flip=true", contentType: "image/png", body: png),
                                           kind: .segmentation)
        XCTAssertEqual(ensembled.options.segmentation.ensemble, Ensemble(seeds: 3, flip: true))
        assertRefused(request("/v1/segmentations?ensemble_seeds=17", contentType: "image/png", body: png), 400, "in 1...16")
        assertRefused(request("/v1/segmentations?flip=maybe", contentType: "image/png", body: png), 400, "'flip' must be true or false")
        let image = testImage()
        let mask = try PanopticPNG.encode(ids: [UInt32](repeating: 0, count: image.width * image.height), width: image.width, height: image.height)
        let body = multipart([("image", "image/png", png), ("mask", "image/png", mask),
                              ("options", "application/json", Array(#"{"flip": true}"#.utf8))])
        assertRefused(request("/v1/inpaintings", contentType: body.contentType, body: body.bytes), kind: .inpainting, 400,
                      "'flip' applies to segmentation only")
    }

    func testPrecisionOption() throws {
        let png = try pngBytes()
        let plain = try decoder.decode(request(contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(plain.options.precision, .fp32)
        XCTAssertEqual(plain.options.segmentation.precision, .fp32)
        let bf16 = try decoder.decode(request("/v1/segmentations?precision=bf16", contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(bf16.options.segmentation.precision, .bf16)
        XCTAssertNotEqual(plain.digest, bf16.digest, "an idempotent retry with another precision is another request")
        let int8 = try decoder.decode(request("/v1/segmentations?precision=int8", contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(int8.options.segmentation.precision, .int8)
        assertRefused(request("/v1/segmentations?precision=fp16", contentType: "image/png", body: png), 400,
                      "option 'precision' must be 'fp32' or 'bf16' or 'int8'; got 'fp16'")
        // Options stored before precision existed still decode, as fp32.
        let decoded = try storedWithout("precision", plain.options)
        XCTAssertNil(decoded.precision)
        XCTAssertEqual(decoded.segmentation.precision, .fp32)
    }

    /// `options` as a job stored before the option `name` existed holds them, decoded again.
    func storedWithout(_ name: String, _ options: JobOptions) throws -> JobOptions {
        var old = try JSONSerialization.jsonObject(with: options.json) as! [String: Any]
        XCTAssertNotNil(old.removeValue(forKey: name), name)
        return try XCTUnwrap(JobOptions.decoded(from: try JSONSerialization.data(withJSONObject: old)))
    }

    func testSamplerOption() throws {
        let png = try pngBytes()
        let plain = try decoder.decode(request(contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(plain.options.sampler, .ddim, "the model's default")
        let body = multipart([("image", "image/png", png), ("options", "application/json", Array(#"{"sampler": "dpm-solver++"}"#.utf8))])
        let dpm = try decoder.decode(request(contentType: body.contentType, body: body.bytes), kind: .segmentation)
        XCTAssertEqual(dpm.options.segmentation.sampler, .dpmSolver)
        XCTAssertNotEqual(plain.digest, dpm.digest)
        assertRefused(request("/v1/segmentations?sampler=euler", contentType: "image/png", body: png), 400,
                      "option 'sampler' must be 'ddim' or 'dpm-solver++'; got 'euler'")
        // Options stored before the sampler existed still decode, as DDIM.
        let decoded = try storedWithout("sampler", plain.options)
        XCTAssertNil(decoded.sampler)
        XCTAssertEqual(decoded.segmentation.sampler, .ddim)
    }

    /// A query option added after jobs were first stored: absent, the model's default `fallback`;
    /// `given` resolves to `expected` with a new digest; each of `bad` gets a 400 with `refusal`;
    /// stored options without it (`stored` reads the field) decode to `fallback`.
    func assertOption<T: Equatable>(_ name: String, _ read: (SegmentationOptions) -> T, fallback: T, given: String, expected: T,
                                    bad: [String], refusal: String, stored: (JobOptions) -> Any?,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let png = try pngBytes()
        let plain = try decoder.decode(request(contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(read(plain.options.segmentation), fallback, "the model's default", file: file, line: line)
        let set = try decoder.decode(request("/v1/segmentations?\(name)=\(given)", contentType: "image/png", body: png), kind: .segmentation)
        XCTAssertEqual(read(set.options.segmentation), expected, file: file, line: line)
        XCTAssertNotEqual(plain.digest, set.digest, file: file, line: line)
        for value in bad {
            assertRefused(request("/v1/segmentations?\(name)=\(value)", contentType: "image/png", body: png), 400, refusal)
        }
        let decoded = try storedWithout(name, plain.options)
        XCTAssertNil(stored(decoded), file: file, line: line)
        XCTAssertEqual(read(decoded.segmentation), fallback, file: file, line: line)
    }

    func testDeepCacheOption() throws {
        try assertOption("deep_cache", \.deepCache, fallback: 1, given: "3", expected: 3, bad: ["0", "1001", "2.5", "every"],
                         refusal: "option 'deep_cache' must be an integer in 1...1000", stored: \.deepCache)
    }

    func testTokenMergingOption() throws {
        try assertOption("token_merging", \.tokenMerging, fallback: 0, given: "0.5", expected: 0.5, bad: ["-0.1", "0.8", "nan", "half"],
                         refusal: "option 'token_merging' must be a number in [0, 0.75]", stored: \.tokenMerging)
    }

    func testMultipartOptionsAndDigest() throws {
        let png = try pngBytes()
        let body = multipart([("image", "image/png", png), ("options", "application/json", Array(#"{"steps": 3, "overlap_th": 1}"#.utf8))])
        let a = try decoder.decode(request(contentType: body.contentType, body: body.bytes), kind: .segmentation)
        XCTAssertEqual(a.options.steps, 3)
        XCTAssertEqual(a.options.overlapTh, 1)
        let b = try decoder.decode(request(contentType: body.contentType, body: body.bytes), kind: .segmentation)
        XCTAssertEqual(a.digest, b.digest)
        let c = try decoder.decode(request("/v1/segmentations?seed=1", contentType: body.contentType, body: body.bytes), kind: .segmentation)
        XCTAssertNotEqual(a.digest, c.digest)
    }

    func testFramingAndMediaTypes() throws {
        let png = try pngBytes()
        assertRefused(request(contentType: "image/png", body: [], framed: false), 411, "Content-Length")
        assertRefused(request(contentType: "image/gif", body: png), 415, "image/gif")
        assertRefused(request(contentType: nil, body: png), 415, "no Content-Type")
        assertRefused(request("/v1/inpaintings", contentType: "image/png", body: png), kind: .inpainting, 415, "multipart/form-data")
        assertRefused(request(contentType: "image/png", body: []), 400, "empty")
        assertRefused(request(contentType: "image/png", body: Array("GIF89a....".utf8)), 415, "not a PNG or JPEG")
        assertRefused(request(contentType: "image/png", body: Array(png.prefix(60))), 422, "cannot be decoded")
        assertRefused(request(contentType: "image/png", body: try pngBytes(testImage(width: 200, height: 100))), 413, "over the limit of 10000")
    }

    func testOptionErrorsNameTheOption() throws {
        let png = try pngBytes()
        assertRefused(request("/v1/segmentations?steps=0", contentType: "image/png", body: png), 400, "'steps' must be an integer in 1...50")
        // More steps than the model was trained with are refused here, not failed by the worker later.
        assertRefused(request("/v1/segmentations?steps=51", contentType: "image/png", body: png), 400, "'steps' must be an integer in 1...50")
        XCTAssertEqual(try decoder.decode(request("/v1/segmentations?steps=50", contentType: "image/png", body: png), kind: .segmentation).options.steps, 50)
        assertRefused(request("/v1/segmentations?mask_th=1", contentType: "image/png", body: png), 400, "'mask_th' must be a number in (0, 1)")
        assertRefused(request("/v1/segmentations?colour=red", contentType: "image/png", body: png), 400, "unknown option 'colour'")
        assertRefused(request("/v1/segmentations?mask_encoding=coco", contentType: "image/png", body: png), 400, "inpainting only")
        for json in [#"{"steps": 2.5}"#, #"{"steps": "many"}"#, #"{"seed": -1}"#, #"{"resolution": true}"#] {
            let body = multipart([("image", "image/png", png), ("options", "application/json", Array(json.utf8))])
            assertRefused(request(contentType: body.contentType, body: body.bytes), 400, "must be an integer")
        }
        let notObject = multipart([("image", "image/png", png), ("options", "application/json", Array("[1]".utf8))])
        assertRefused(request(contentType: notObject.contentType, body: notObject.bytes), 400, "must be a JSON object")
    }

    /// An option given twice, or in the query and the options part, is refused, not settled silently.
    func testOptionsAreGivenOnce() throws {
        let png = try pngBytes()
        assertRefused(request("/v1/segmentations?steps=1&steps=5", contentType: "image/png", body: png), 400, "option 'steps' is given twice")
        for json in [#"{"steps": 1, "steps": 5}"#, #"{"seed": 1, "steps": 2, "st\u0065ps": 5}"#, "{\"steps\":1 ,\n \"steps\" : 1}"] {
            let body = multipart([("image", "image/png", png), ("options", "application/json", Array(json.utf8))])
            assertRefused(request(contentType: body.contentType, body: body.bytes), 400, "option 'steps' is given twice")
        }
        let body = multipart([("image", "image/png", png), ("options", "application/json", Array(#"{"steps": 3}"#.utf8))])
        assertRefused(request("/v1/segmentations?steps=3", contentType: body.contentType, body: body.bytes), 400,
                      "option 'steps' is given in the query and in the options part")
        // Names inside strings or nested values are not members of the options object.
        let nested = multipart([("image", "image/png", png), ("options", "application/json", Array(#"{"callback_url": "http://a/?steps=1&steps=2", "steps": 2}"#.utf8))])
        XCTAssertNotEqual(refusal(request(contentType: nested.contentType, body: nested.bytes))?.detail.contains("twice"), true)
        assertRefused(request("/v1/segmentations?resolution=65", contentType: "image/png", body: png), 400, "'resolution' must be a multiple of 8")
    }

    /// The job cost counts the image's pixels as well as the denoising: a large image with few
    /// steps is not nearly free.
    func testTheJobCostCountsPixels() throws {
        let png = try pngBytes(testImage(width: 96, height: 96))  // 9,216 pixels: 72 units
        let options = "/v1/segmentations?steps=1&resolution=64"  // 1 step x 64 cells
        var decoder = self.decoder
        decoder.limits.maxJobCost = 64 + 72
        XCTAssertNoThrow(try decoder.decode(request(options, contentType: "image/png", body: png), kind: .segmentation))
        decoder.limits.maxJobCost = 64 + 71
        do {
            _ = try decoder.decode(request(options, contentType: "image/png", body: png), kind: .segmentation)
            XCTFail("accepted over the limit")
        } catch {
            XCTAssertEqual(error.status.code, 400)
            XCTAssertTrue(error.detail.contains("9216 pixels"), error.detail)
        }
    }

    /// The decode lane is chosen from the headers alone: the largest image a request declares.
    func testDeclaredPixelsReadOnlyTheHeaders() throws {
        let png = try pngBytes(testImage(width: 30, height: 20))
        func declared(_ request: HTTPRequest, _ kind: JobKind) throws -> Int {
            SubmissionDecoder.declaredPixels(try decoder.parts(of: request, kind: kind))
        }
        XCTAssertEqual(try declared(request(contentType: "image/png", body: png), .segmentation), 600)
        let mask = try pngBytes(testImage(width: 40, height: 25))
        let body = multipart([("image", "image/png", png), ("mask", "image/png", mask)])
        XCTAssertEqual(try declared(request("/v1/inpaintings", contentType: body.contentType, body: body.bytes), .inpainting), 1000)
        XCTAssertEqual(try declared(request(contentType: "image/png", body: Array("not an image".utf8)), .segmentation), 0)
    }

    func testJSONObjectKeysFindsRepeatedMembersOnly() {
        XCTAssertEqual(JSONObjectKeys.firstDuplicate(in: Array(#"{"a": 1, "b": {"a": 2}, "c": ["a", "a"]}"#.utf8)), nil)
        XCTAssertEqual(JSONObjectKeys.firstDuplicate(in: Array(#"{"a": "x\"a", "a": 2}"#.utf8)), "a")
        XCTAssertEqual(JSONObjectKeys.firstDuplicate(in: Array(#"{"\u0061": 1, "a": 2}"#.utf8)), "a")
        XCTAssertEqual(JSONObjectKeys.firstDuplicate(in: Array(#"{"a\\": 1, "a\\" : 2}"#.utf8)), "a\\")
    }

    func testMultipartParts() throws {
        let png = try pngBytes()
        let noImage = multipart([("options", "application/json", Array("{}".utf8))])
        assertRefused(request(contentType: noImage.contentType, body: noImage.bytes), 400, "no 'image' part")
        let twice = multipart([("image", "image/png", png), ("image", "image/png", png)])
        assertRefused(request(contentType: twice.contentType, body: twice.bytes), 400, "given twice")
        let unknown = multipart([("image", "image/png", png), ("picture", "image/png", png)])
        assertRefused(request(contentType: unknown.contentType, body: unknown.bytes), 400, "unknown part 'picture'")
        let semantic = multipart([("image", "image/png", png), ("semantic", "image/png", png)])
        assertRefused(request(contentType: semantic.contentType, body: semantic.bytes), 400, "categories file")
        assertRefused(request(contentType: "multipart/form-data; boundary=x", body: Array("garbage".utf8)), 400, "malformed multipart")
    }

    func testInpaintingMasks() throws {
        let image = testImage()
        let png = try pngBytes(image)
        var ids = [UInt32](repeating: 0, count: image.width * image.height)
        for i in 0..<(image.width * 10) { ids[i] = 7 }
        let mask = try PanopticPNG.encode(ids: ids, width: image.width, height: image.height)
        let ok = multipart([("image", "image/png", png), ("mask", "image/png", mask)])
        let submission = try decoder.decode(request("/v1/inpaintings", contentType: ok.contentType, body: ok.bytes), kind: .inpainting)
        XCTAssertEqual(submission.options.maskEncoding, .coco)
        XCTAssertEqual(submission.input.mask, Data(mask))

        let noMask = multipart([("image", "image/png", png)])
        assertRefused(request("/v1/inpaintings", contentType: noMask.contentType, body: noMask.bytes), kind: .inpainting, 400, "no 'mask' part")
        let small = try PanopticPNG.encode(ids: [1, 2, 3, 4], width: 2, height: 2)
        let wrongSize = multipart([("image", "image/png", png), ("mask", "image/png", small)])
        assertRefused(request("/v1/inpaintings", contentType: wrongSize.contentType, body: wrongSize.bytes), kind: .inpainting, 422,
                      "mask is 2x2; the image is 80x60")
        let known = try PNGCodec.encodeGray([1, 1, 1, 1], width: 2, height: 2)
        let wrongKnown = multipart([("image", "image/png", png), ("mask", "image/png", mask), ("known", "image/png", known)])
        assertRefused(request("/v1/inpaintings", contentType: wrongKnown.contentType, body: wrongKnown.bytes), kind: .inpainting, 422,
                      "known is 2x2")
        for i in 0..<4 { ids[i] = UInt32(100 + i) }
        let crowded = multipart([("image", "image/png", png), ("mask", "image/png", try PanopticPNG.encode(ids: ids, width: 80, height: 60))])
        assertRefused(request("/v1/inpaintings", contentType: crowded.contentType, body: crowded.bytes), kind: .inpainting, 422,
                      "5 distinct segment ids")
    }
}
