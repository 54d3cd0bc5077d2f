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
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        print("        " + ["PQ", "SQ", "RQ"].map { pad($0, 9) }.joined() + pad("N", 6))
        for (name, s) in [("All", report.all), ("Things", report.things), ("Stuff", report.stuff)] {
            let values = [s.pq, s.sq, s.rq].map { pad(String(format: "%.3f", 100 * $0), 9) }.joined()
            print(name.padding(toLength: 8, withPad: " ", startingAt: 0) + values + pad("\(s.n)", 6))
        }
        if let json { try data.write(to: URL(fileURLWithPath: json)) }
    }
}
