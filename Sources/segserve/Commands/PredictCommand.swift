import ArgumentParser
import Foundation
import Imaging
import LDMSeg

/// `segserve predict`: a folder of images to COCO panoptic PNGs plus one predictions JSON that
/// `segserve eval` reads. Images whose PNG already exists are skipped, so a run resumes.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict",
                                                    abstract: "Segment every image of a folder (COCO panoptic output, resumable).")

    @OptionGroup var inference: InferenceOptions
    @Option(help: "folder of PNG/JPEG images") var images: String
    @Option(help: "output folder: <out>/panoptic/*.png and <out>/predictions.json") var out: String

    func run() throws {
        let (model, options) = try inference.load()
        let segmenter = Segmenter(model: model)
        let files = try FileManager.default.contentsOfDirectory(atPath: images)
            .filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let pngDir = URL(fileURLWithPath: out).appendingPathComponent("panoptic")
        try FileManager.default.createDirectory(at: pngDir, withIntermediateDirectories: true)
        let start = Date()
        var annotations: [PredictionEntry] = []
        for (i, file) in files.enumerated() {
            let stem = (file as NSString).deletingPathExtension
            let png = pngDir.appendingPathComponent(stem + ".png")
            let ids: (width: Int, height: Int, ids: [UInt32])
            if FileManager.default.fileExists(atPath: png.path) {
                ids = try PanopticPNG.decode([UInt8](try Data(contentsOf: png)))
            } else {
                let rgb = try readImage(URL(fileURLWithPath: images).appendingPathComponent(file).path, maxPixels: segmenter.maxPixels)
                let result = try segmenter.segment(rgb: rgb.pixels, width: rgb.width, height: rgb.height, options: options)
                try Data(try PanopticPNG.encode(ids: result.ids, width: result.width, height: result.height)).write(to: png)
                ids = (result.width, result.height, result.ids)
            }
            let result = PanopticResult(width: ids.width, height: ids.height, ids: ids.ids)
            annotations.append(PredictionEntry(imageID: Int(stem) ?? i, fileName: stem + ".png", segments: result.segments))
            let elapsed = Date().timeIntervalSince(start), done = i + 1
            let eta = elapsed / Double(done) * Double(files.count - done)
            FileHandle.standardError.write(String(format: "\r%d/%d images, ETA %.0f s ", done, files.count, eta).data(using: .utf8)!)
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(PredictionsFile(annotations: annotations)).write(to: URL(fileURLWithPath: out).appendingPathComponent("predictions.json"))
        print("\(files.count) images -> \(out)/predictions.json")
    }
}

/// One entry of a COCO panoptic predictions file.
struct PredictionEntry: Encodable {
    var imageID: Int
    var fileName: String
    var segments: [PanopticSegment]

    enum CodingKeys: String, CodingKey { case imageID = "image_id", fileName = "file_name", segments = "segments_info" }
}

/// A COCO panoptic predictions file: one class-agnostic "object" category.
struct PredictionsFile: Encodable {
    struct Category: Encodable {
        var id = 1, name = "object", isthing = 1
    }

    var annotations: [PredictionEntry]
    var categories = [Category()]
}
