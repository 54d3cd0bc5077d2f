import Evaluation
import Foundation
import Imaging

/// Decoding of the images a client sends, shared by submission (to refuse bad input before a
/// job is acknowledged) and the worker (which decodes the stored bytes again).
enum InputDecoding {
    static func image(_ bytes: [UInt8], maxPixels: Int) throws(APIError) -> RGBImage {
        guard !bytes.isEmpty else { throw .badRequest("the image is empty") }
        do { return try ImageDecoder.decode(bytes, maxPixels: maxPixels) } catch { throw apiError(error, part: "image") }
    }

    /// An inpainting mask as a segment id per pixel plus the known pixels (default: non-void).
    static func mask(_ bytes: [UInt8], known knownBytes: [UInt8]?, encoding: InpaintingMaskEncoding, width: Int, height: Int,
                     maxPixels: Int, slotCapacity: Int) throws(APIError) -> (ids: [UInt32], known: [Bool]) {
        let ids: [UInt32]
        do {
            let mask = try InpaintingMask.decode(bytes, encoding: encoding, slotCapacity: slotCapacity, maxPixels: maxPixels)
            try checkSize("mask", mask.width, mask.height, width, height)
            ids = mask.ids
        } catch let error as APIError { throw error } catch { throw apiError(error, part: "mask") }
        var known = ids.map { $0 != 0 }
        if let knownBytes {
            do {
                let k = try PNGCodec.decodeGray(knownBytes, maxPixels: maxPixels)
                try checkSize("known", k.width, k.height, width, height)
                known = k.values.map { $0 != 0 }
            } catch let error as APIError { throw error } catch { throw apiError(error, part: "known") }
        }
        var distinct = Set<UInt32>()
        for i in ids.indices where known[i] && ids[i] != 0 { distinct.insert(ids[i]) }
        guard distinct.count <= slotCapacity else {
            throw .unprocessable("mask: \(distinct.count) distinct segment ids among the known pixels; the model has room for \(slotCapacity)",
                                 slug: "invalid-mask")
        }
        return (ids, known)
    }

    /// A semantic label map (8-bit PNG, a category index per pixel, 255 = no vote).
    static func semantic(_ bytes: [UInt8], width: Int, height: Int, maxPixels: Int) throws(APIError) -> [Int] {
        do {
            let labels = try PNGCodec.decodeGray(bytes, maxPixels: maxPixels)
            try checkSize("semantic", labels.width, labels.height, width, height)
            return labels.values.map(Int.init)
        } catch let error as APIError { throw error } catch { throw apiError(error, part: "semantic") }
    }

    private static func checkSize(_ part: String, _ w: Int, _ h: Int, _ width: Int, _ height: Int) throws(APIError) {
        guard w == width, h == height else {
            throw .unprocessable("\(part) is \(w)x\(h); the image is \(width)x\(height)", slug: "size-mismatch")
        }
    }

    /// Codec errors as client errors: too many pixels 413, not an image format we read 415, broken 422.
    static func apiError(_ error: any Error, part: String) -> APIError {
        switch error {
        case ImagingError.tooManyPixels(let w, let h, let limit):
            return .tooLarge("\(part) is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit)")
        case ImagingError.unsupportedFormat(let what):
            return .unsupportedMediaType("\(part): \(what); send PNG or JPEG")
        default:
            return .unprocessable("\(part) cannot be decoded: \(error)")
        }
    }
}
