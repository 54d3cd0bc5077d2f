import ArgumentParser
import Foundation
import Imaging
import Evaluation
import LDMSeg

/// `segserve predict`: a folder of images to COCO panoptic PNGs plus one predictions JSON that
/// `segserve eval` reads. Images whose PNG already exists are skipped, so a run resumes.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict",
                                                    abstract: "Segment every image of a folder (COCO panoptic output, resumable).")

    @OptionGroup var inference: InferenceOptions
    @Option(help: "folder of PNG/JPEG images") var images: String
    @Option(help: "output folder: <out>/panoptic/*.png and <out>/predictions.json") var out: String
    @Option(name: .customLong("semantic-dir"),
            help: "8-bit semantic label PNGs (same file stems): segments take the majority class") var semanticDir: String?
    @Option(help: "COCO panoptic categories JSON that semantic labels index (with --semantic-dir)") var categories: String?

    func run() throws {
        let (model, options) = try inference.load()
        let segmenter = Segmenter(model: model)
        let files = try FileManager.default.contentsOfDirectory(atPath: images)
            .filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let pngDir = URL(fileURLWithPath: out).appendingPathComponent("panoptic")
        try FileManager.default.createDirectory(at: pngDir, withIntermediateDirectories: true)
        var categoryList: [PanopticCategory]?
        if semanticDir != nil {
            guard let categories else { throw ValidationError("--semantic-dir needs --categories") }
            categoryList = try JSONDecoder().decode([PanopticCategory].self, from: Data(contentsOf: URL(fileURLWithPath: categories)))
        }
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
            var segments = PanopticResult(width: ids.width, height: ids.height, ids: ids.ids).segments
            if let semanticDir, let categoryList {
                let labelPNG = URL(fileURLWithPath: semanticDir).appendingPathComponent(stem + ".png")
                let labels = try PNGCodec.decodeGray([UInt8](try Data(contentsOf: labelPNG)))
                guard labels.width == ids.width, labels.height == ids.height else {
                    throw ValidationError("\(labelPNG.path) is \(labels.width)x\(labels.height), image \(ids.width)x\(ids.height)")
                }
                let merged = CategorisedPanoptic.merge(ids: ids.ids, labels: labels.values.map(Int.init), categories: categoryList)
                try Data(try PanopticPNG.encode(ids: merged.ids, width: ids.width, height: ids.height)).write(to: png)
                let boxes = Dictionary(uniqueKeysWithValues: PanopticResult(width: ids.width, height: ids.height, ids: merged.ids)
                    .segments.map { ($0.id, $0.bbox) })
                segments = merged.segments.map {
                    PanopticSegment(id: $0.id, categoryID: $0.categoryID, isCrowd: 0, area: $0.area, bbox: boxes[$0.id] ?? [0, 0, 0, 0])
                }
            }
            annotations.append(PredictionEntry(imageID: Int(stem) ?? i, fileName: stem + ".png", segments: segments))
            let elapsed = Date().timeIntervalSince(start), done = i + 1
            let eta = elapsed / Double(done) * Double(files.count - done)
            FileHandle.standardError.write(String(format: "\r%d/%d images, ETA %.0f s ", done, files.count, eta).data(using: .utf8)!)
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let listed = categoryList.map { $0.map { PredictionsFile.Category(id: $0.id, name: $0.name, isthing: $0.isthing) } }
        try encoder.encode(PredictionsFile(annotations: annotations, categories: listed ?? [PredictionsFile.Category()])).write(to: URL(fileURLWithPath: out).appendingPathComponent("predictions.json"))
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
