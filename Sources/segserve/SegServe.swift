import ArgumentParser
import NNRuntime

/// segserve: panoptic segmentation and mask inpainting with LDMSeg.
@main
struct SegServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segserve",
        abstract: "Panoptic segmentation and mask inpainting with a latent diffusion model (LDMSeg).",
        subcommands: [ServeCommand.self, SegmentCommand.self, InpaintCommand.self, PredictCommand.self, EvalCommand.self])

    static func main() async {
        BLASKernel.configureProcess()
        HeapTuning.keepLargeBlocks()
        await main(nil)
    }
}
