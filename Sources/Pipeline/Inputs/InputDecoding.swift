import Foundation
import Imaging

/// Decoding of the images a client sends, shared by submission (to refuse bad input before a
/// job is acknowledged), the worker (which decodes the stored bytes again) and the command line.
public enum InputDecoding {
    public static func image(_ bytes: [UInt8], maxPixels: Int) throws(InputError) -> RGBImage {
        guard !bytes.isEmpty else { throw .empty(part: "image") }
        do { return try ImageDecoder.decode(bytes, maxPixels: maxPixels) } catch { throw inputError(error, part: "image") }
    }

    /// An inpainting mask as a segment id per pixel plus the known pixels (default: non-void).
    public static func mask(_ bytes: [UInt8], known knownBytes: [UInt8]?, encoding: InpaintingMaskEncoding, width: Int, height: Int,
                     maxPixels: Int, slotCapacity: Int) throws(InputError) -> (ids: [UInt32], known: [Bool]) {
        let ids: [UInt32]
        do {
            let mask = try InpaintingMask.decode(bytes, encoding: encoding, slotCapacity: slotCapacity, maxPixels: maxPixels)
            try checkSize("mask", mask.width, mask.height, width, height)
            ids = mask.ids
        } catch let error as InputError { throw error } catch { throw inputError(error, part: "mask") }
        var known = ids.map { $0 != 0 }
        if let knownBytes {
            do {
                let k = try PNGCodec.decodeGray(knownBytes, maxPixels: maxPixels)
                try checkSize("known", k.width, k.height, width, height)
                known = k.values.map { $0 != 0 }
            } catch let error as InputError { throw error } catch { throw inputError(error, part: "known") }
        }
        var distinct = Set<UInt32>()
        for i in ids.indices where known[i] && ids[i] != 0 { distinct.insert(ids[i]) }
        guard distinct.count <= slotCapacity else { throw .tooManySegments(count: distinct.count, capacity: slotCapacity) }
        return (ids, known)
    }

    /// A semantic label map (8-bit PNG, a category index per pixel, 255 = no vote).
    public static func semantic(_ bytes: [UInt8], width: Int, height: Int, maxPixels: Int) throws(InputError) -> [Int] {
        do {
            let labels = try PNGCodec.decodeGray(bytes, maxPixels: maxPixels)
            try checkSize("semantic", labels.width, labels.height, width, height)
            return labels.values.map(Int.init)
        } catch let error as InputError { throw error } catch { throw inputError(error, part: "semantic") }
    }

    private static func checkSize(_ part: String, _ w: Int, _ h: Int, _ width: Int, _ height: Int) throws(InputError) {
        guard w == width, h == height else {
            throw .sizeMismatch(part: part, width: w, height: h, imageWidth: width, imageHeight: height)
        }
    }

    /// A codec's error as what is wrong with the part.
    private static func inputError(_ error: any Error, part: String) -> InputError {
        switch error {
        case ImagingError.tooManyPixels(let w, let h, let limit): .tooManyPixels(part: part, width: w, height: h, limit: limit)
        case ImagingError.unsupportedFormat(let what): .unsupportedFormat(part: part, what: what)
        default: .undecodable(part: part, reason: "\(error)")
        }
    }
}
