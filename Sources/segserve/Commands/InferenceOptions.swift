import ArgumentParser
import Foundation
import Imaging
import LDMSeg
import NNRuntime
import Pipeline

/// Model and request options shared by the inference commands; unset ones take the model's
/// defaults from its config.json.
struct InferenceOptions: ParsableArguments {
    @Option(help: "model directory (config.json + safetensors)") var model: String
    @Option(help: "sampler steps") var steps: Int?
    @Option(help: "ddim or dpm-solver++ (DPM-Solver++(2M): fewer steps for the same quality; default: the model's)")
    var sampler: Sampler?
    @Option(name: .customLong("deep-cache"),
            help: "DeepCache: run the whole UNet every N steps, its shallowest levels alone in between (1: every step; default: the model's)")
    var deepCache: Int?
    @Option(name: .customLong("token-merging"),
            help: "ToMe: merge this share of the top-level tokens before self-attention (0...0.75; 0: none; default: the model's)")
    var tokenMerging: Double?
    @Option(help: "noise seed") var seed: UInt64 = 0
    @Option(help: "working resolution (longest side)") var resolution: Int?
    @Option(name: .customLong("mask-th"), help: "void below this top softmax probability") var maskTh: Float?
    @Option(name: .customLong("count-th"), help: "drop segments with fewer pixels") var countTh: Int?
    @Option(name: .customLong("overlap-th"), help: "drop segments mostly covered by others") var overlapTh: Float?
    @Option(name: .customLong("min-score"), help: "drop segments scored under this (0...1; default 0 keeps all)") var minScore: Float?
    @Option(help: "the runtime's threads (loops and sgemms)") var threads = 2
    @Option(help: "fp32; bf16 for faster matrix products on CPUs with AVX512-BF16 (fp32 elsewhere); int8 for products with weights in 8-bit integers on CPUs with AVX512-VNNI (bf16, then fp32, elsewhere)")
    var precision = Precision.fp32

    /// Threads for each of `jobs` images run at once: they share `threads`, at least 1 each.
    func threads(jobs: Int) -> Int { max(1, threads / max(1, jobs)) }

    /// Loads the model and resolves the options. `ensemble` overrides the model's ensembling
    /// defaults; nil (inpainting) runs once.
    func load(ensemble: EnsembleOptions? = nil) throws -> (LDMSegModel, SegmentationOptions) {
        let model = try LDMSegModel(directory: self.model)
        var o = model.defaultOptions
        o.seed = seed
        o.precision = precision
        if let steps { o.steps = steps }
        if let sampler { o.sampler = sampler }
        if let deepCache { o.deepCache = deepCache }
        if let tokenMerging { o.tokenMerging = tokenMerging }
        if let resolution { o.resolution = resolution }
        if let maskTh { o.postProcessing.maskThreshold = maskTh }
        if let countTh { o.postProcessing.countThreshold = countTh }
        if let overlapTh { o.postProcessing.overlapThreshold = overlapTh }
        if let minScore { o.postProcessing.minScore = minScore }
        if let ensemble {
            if let seeds = ensemble.seeds { o.ensemble.seeds = seeds }
            if let flip = ensemble.flip { o.ensemble.flip = flip }
        } else {
            o.ensemble = Ensemble()
        }
        try o.validate(trainSteps: model.scheduler.trainSteps)
        return (model, o)
    }
}

/// Test-time ensembling options of `segment` and `predict`; unset ones keep the model's defaults.
struct EnsembleOptions: ParsableArguments {
    @Option(name: .customLong("ensemble-seeds"),
            help: "average the slot logits of this many seeds (seed, seed+1, ...), slots matched by IoU (default: the model's)")
    var seeds: Int?
    @Flag(inversion: .prefixedNo,
          help: "also run on the left-right mirrored image and average its mirrored-back logits (default: the model's)")
    var flip: Bool?
}

/// A file's bytes.
func readFile(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Writes `<out>/panoptic.png` and `<out>/segments.json` (COCO panoptic annotation), the files
/// the service serves, and to the paths given the segments drawn over the image (`overlay`) and
/// the uncertainty map (`uncertainty`).
func writeResult(_ output: SegmentationPipeline.Output, to out: String, fileName: String, files extra: ExtraFiles) throws {
    let files = try ResultFiles(output.result, fileName: fileName, overlaying: extra.overlay == nil ? nil : output.image)
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    try Data(files.panopticPNG).write(to: URL(fileURLWithPath: out).appendingPathComponent("panoptic.png"))
    try Data(files.segmentsJSON).write(to: URL(fileURLWithPath: out).appendingPathComponent("segments.json"))
    for case let (path?, png?) in [(extra.overlay, files.overlayPNG), (extra.uncertainty, files.uncertaintyPNG)] {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(png).write(to: url)
    }
}

/// The optional files of `segment` and `inpaint`.
struct ExtraFiles: ParsableArguments {
    @Option(help: "also write the segments drawn over the image to this PNG") var overlay: String?
    @Option(help: "also write the uncertainty map (8-bit grey, white where the model is least sure) to this PNG")
    var uncertainty: String?
}

/// Reports each DDIM step on one line of standard error rewritten in place; where standard
/// error is not a terminal (a log file, a pipe), only the last step, on a line of its own.
func stepPrinter(_ label: String) -> (Int, Int) -> Void {
    let terminal = isatty(FileHandle.standardError.fileDescriptor) == 1
    return { step, steps in
        guard terminal || step == steps else { return }
        FileHandle.standardError.write(Data(((terminal ? "\r" : "") + "\(label): step \(step)/\(steps)" + (step == steps ? "\n" : "")).utf8))
    }
}

extension Precision: ExpressibleByArgument {}
extension Sampler: ExpressibleByArgument {}
