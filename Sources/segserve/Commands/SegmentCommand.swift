import ArgumentParser
import Foundation
import Imaging
import LDMSeg
import NNRuntime
import Pipeline

/// `segserve segment`: one image to a COCO panoptic PNG and segment JSON.
struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segment",
                                                    abstract: "Segment one image; writes panoptic.png and segments.json.")

    @OptionGroup var inference: InferenceOptions
    @OptionGroup var ensemble: EnsembleOptions
    @Argument(help: "PNG or JPEG image") var image: String
    @Option(help: "output folder") var out = "."
    @OptionGroup var files: ExtraFiles

    func run() throws {
        let (model, options) = try inference.load(ensemble: ensemble)
        let segmenter = Segmenter(model: model, runtime: RuntimeOptions(pool: ComputePool(threads: inference.threads)))
        let output = try SegmentationPipeline(maxPixels: segmenter.maxPixels)
            .run(.init(image: try readFile(image)), options: options, on: segmenter, progress: stepPrinter("segment"))
        try writeResult(output, to: out, fileName: URL(fileURLWithPath: image).lastPathComponent, files: files)
        print("\(output.result.segments.count) segments -> \(out)/panoptic.png, \(out)/segments.json")
    }
}

/// `segserve inpaint`: complete a partial panoptic PNG.
struct InpaintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inpaint",
                                                    abstract: "Complete a partial COCO panoptic PNG for an image.")

    @OptionGroup var inference: InferenceOptions
    @Argument(help: "PNG or JPEG image") var image: String
    @Option(help: "partial segment map PNG (see --mask-encoding; id 0 = unknown)") var mask: String
    @Option(name: .customLong("mask-encoding"),
            help: "coco: id = R + 256 G + 256^2 B; palette: Painter palette colours of the model's slots, nearest colour, white = void")
    var maskEncoding: InpaintingMaskEncoding = .coco
    @Option(help: "binary PNG of known pixels (default: non-void pixels of the mask)") var known: String?
    @Option(help: "output folder") var out = "."
    @OptionGroup var files: ExtraFiles

    func run() throws {
        let (model, options) = try inference.load()
        let segmenter = Segmenter(model: model, runtime: RuntimeOptions(pool: ComputePool(threads: inference.threads)))
        let parts = SegmentationPipeline.Parts(image: try readFile(image), mask: (try readFile(mask), maskEncoding, try known.map(readFile)))
        let output = try SegmentationPipeline(maxPixels: segmenter.maxPixels)
            .run(parts, options: options, on: segmenter, progress: stepPrinter("inpaint"))
        try writeResult(output, to: out, fileName: URL(fileURLWithPath: image).lastPathComponent, files: files)
        print("\(output.result.segments.count) segments -> \(out)/panoptic.png, \(out)/segments.json")
    }
}

extension InpaintingMaskEncoding: ExpressibleByArgument {}
