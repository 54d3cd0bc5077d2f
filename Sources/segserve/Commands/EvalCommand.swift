import ArgumentParser
import Evaluation
import Foundation

/// `segserve eval`: panoptic quality of COCO-format predictions, as panopticapi computes it.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
                                                    abstract: "Panoptic quality (PQ, SQ, RQ) of COCO panoptic predictions.")

    @Option(name: .customLong("gt-json")) var gtJSON: String
    @Option(name: .customLong("gt-dir")) var gtDir: String
    @Option(name: .customLong("pred-json")) var predJSON: String
    @Option(name: .customLong("pred-dir")) var predDir: String
    @Flag(name: .customLong("class-agnostic"), help: "every segment counts as one thing category") var classAgnostic = false
    @Option(help: "also write the report as JSON here ('-' for standard output only)") var json: String?

    func run() throws {
        let report = try PanopticEvaluation.evaluate(gtJSON: gtJSON, gtFolder: gtDir, predJSON: predJSON,
                                                     predFolder: predDir, classAgnostic: classAgnostic)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(report)
        if json == "-" {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(String(format: "%-8@ %8@ %8@ %8@ %5@", "" as NSString, "PQ" as NSString, "SQ" as NSString, "RQ" as NSString, "N" as NSString))
        for (name, s) in [("All", report.all), ("Things", report.things), ("Stuff", report.stuff)] {
            print(String(format: "%-8@ %8.3f %8.3f %8.3f %5d", name as NSString, 100 * s.pq, 100 * s.sq, 100 * s.rq, s.n))
        }
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
    }
}
