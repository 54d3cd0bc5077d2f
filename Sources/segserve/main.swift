import ArgumentParser
import NNRuntime

/// segserve: panoptic segmentation and mask inpainting with LDMSeg.
struct SegServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segserve",
        abstract: "Panoptic segmentation and mask inpainting with a latent diffusion model (LDMSeg).",
        subcommands: [ServeCommand.self, SegmentCommand.self, InpaintCommand.self, PredictCommand.self, EvalCommand.self, ConvertCommand.self])
}

BLASKernel.configureProcess()
HeapTuning.keepLargeBlocks()
SegServe.main()
