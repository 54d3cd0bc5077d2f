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

    public init(_ result: PanopticResult, fileName: String, overlaying image: RGBImage? = nil) throws {
        panopticPNG = try PanopticPNG.encode(ids: result.ids, width: result.width, height: result.height)
        let annotation = PanopticAnnotation(fileName: fileName, width: result.width, height: result.height, segments: result.segments)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        segmentsJSON = Array(try encoder.encode(annotation))
        overlayPNG = try image.map { try PanopticOverlay.encodePNG($0, ids: result.ids) }
    }
}
