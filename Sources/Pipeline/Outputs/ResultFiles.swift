import Foundation
import Imaging
import LDMSeg

/// A result's files, as the service stores them and the command line writes them: the COCO
/// panoptic PNG, the segments JSON (a COCO panoptic annotation, sorted keys) and, given the
/// image, the segments drawn over it.
public struct ResultFiles: Sendable {
    public let panopticPNG: [UInt8]
    public let segmentsJSON: [UInt8]
    public let overlayPNG: [UInt8]?
    /// 8-bit grey at the image's size: 255 x (1 - the top slot probability), so white is where
    /// the model is least sure. Nil for a result without evidence.
    public let uncertaintyPNG: [UInt8]?

    public init(_ result: PanopticResult, fileName: String, overlaying image: RGBImage? = nil) throws {
        panopticPNG = try PanopticPNG.encode(ids: result.ids, width: result.width, height: result.height)
        var annotation = PanopticAnnotation(fileName: fileName, width: result.width, height: result.height, segments: result.segments)
        annotation.scores = result.evidence.map {
            PanopticAnnotation.ScoreBasis(runs: $0.runs, features: $0.agreement == nil ? ["confidence"] : ["confidence", "agreement"],
                                          calibrated: $0.calibrated)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        segmentsJSON = Array(try encoder.encode(annotation))
        overlayPNG = try image.map { try PanopticOverlay.encodePNG($0, ids: result.ids) }
        uncertaintyPNG = try result.evidence.map { evidence in
            let map = evidence.confidence
            return try PNGCodec.encodeRows(width: result.width, height: result.height, channels: 1) { y, row in
                for x in 0..<result.width {
                    row[x] = UInt8((255 * (1 - map.value(x: x, y: y, outputWidth: result.width, outputHeight: result.height))).rounded())
                }
            }
        }
    }
}
