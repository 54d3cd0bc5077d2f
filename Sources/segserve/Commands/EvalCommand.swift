import ArgumentParser
import Evaluation
import Foundation
import Imaging

/// `segserve eval`: panoptic quality of COCO panoptic predictions as panopticapi computes it,
/// or, with `--semantic`, mean IoU and pixel accuracy of label-map PNGs.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Panoptic quality (PQ, SQ, RQ), or semantic mIoU and pixel accuracy.")

    @Option(name: .customLong("gt-dir"), help: "ground-truth PNG folder") var gtDir: String
    @Option(name: .customLong("pred-dir"), help: "prediction PNG folder") var predDir: String
    @Option(name: .customLong("gt-json"), help: "ground-truth COCO panoptic JSON (panoptic mode)") var gtJSON: String?
    @Option(name: .customLong("pred-json"), help: "prediction COCO panoptic JSON (panoptic mode)") var predJSON: String?
    @Flag(name: .customLong("class-agnostic"), help: "every segment counts as one thing category") var classAgnostic = false
    @Flag(help: "score 8-bit label-map PNGs (same file names in both folders)") var semantic = false
    @Option(name: .customLong("num-classes"), help: "semantic classes") var numClasses = 150
    @Option(name: .customLong("ignore-label"), help: "semantic label left out") var ignoreLabel = 255
    @Option(help: "also write the report as JSON here ('-': JSON on standard output only)") var json: String?

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        var table: [String] = []
        if semantic {
            var m = SemanticMetrics(numClasses: numClasses, ignoreLabel: ignoreLabel)
            let files = try FileManager.default.contentsOfDirectory(atPath: gtDir).filter { $0.hasSuffix(".png") }.sorted()
            for file in files {
                let gt = try PNGCodec.decodeGray([UInt8](try Data(contentsOf: URL(fileURLWithPath: gtDir).appendingPathComponent(file))))
                let pred = try PNGCodec.decodeGray([UInt8](try Data(contentsOf: URL(fileURLWithPath: predDir).appendingPathComponent(file))))
                try m.add(image: file, gt: gt.values.map(Int.init), pred: pred.values.map(Int.init))
            }
            let report = SemanticReport(images: files.count, meanIoU: m.meanIoU, pixelAccuracy: m.pixelAccuracy, classIoU: m.classIoU)
            data = try encoder.encode(report)
            table = [String(format: "images %d  mIoU %.3f  pixel accuracy %.3f", files.count, 100 * m.meanIoU, 100 * m.pixelAccuracy)]
        } else {
            guard let gtJSON, let predJSON else { throw ValidationError("panoptic mode needs --gt-json and --pred-json") }
            let report = try PanopticEvaluation.evaluate(gtJSON: gtJSON, gtFolder: gtDir, predJSON: predJSON,
                                                         predFolder: predDir, classAgnostic: classAgnostic)
            data = try encoder.encode(report)
            func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
            table.append("        " + ["PQ", "SQ", "RQ"].map { pad($0, 9) }.joined() + pad("N", 6))
            for (name, s) in [("All", report.all), ("Things", report.things), ("Stuff", report.stuff)] {
                let values = [s.pq, s.sq, s.rq].map { pad(String(format: "%.3f", 100 * $0), 9) }.joined()
                table.append(name.padding(toLength: 8, withPad: " ", startingAt: 0) + values + pad("\(s.n)", 6))
            }
        }
        if json == "-" {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        table.forEach { print($0) }
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
    }
}

/// `segserve eval --semantic` output.
struct SemanticReport: Encodable {
    var images: Int
    var meanIoU: Double
    var pixelAccuracy: Double
    var classIoU: [Double?]

    enum CodingKeys: String, CodingKey { case images, meanIoU = "mean_iou", pixelAccuracy = "pixel_accuracy", classIoU = "class_iou" }
}
