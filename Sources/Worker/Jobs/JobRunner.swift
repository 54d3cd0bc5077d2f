import Foundation
import JobStore
import LDMSeg
import Pipeline
import ServiceCore

/// Runs one job through the `SegmentationPipeline` on a worker's `Segmenter` and renders its
/// result files.
package struct JobRunner: Sendable {
    let pipeline: SegmentationPipeline

    package init(pipeline: SegmentationPipeline) { self.pipeline = pipeline }

    func run(_ job: Job, input: JobInput, on segmenter: Segmenter, progress: Segmenter.Progress,
             isCancelled: () -> Bool) throws -> JobResult {
        let options = try JSONDecoder().decode(JobOptions.self, from: job.options)
        var parts = SegmentationPipeline.Parts(image: [UInt8](input.image), semantic: input.semantic.map { [UInt8]($0) })
        if job.kind == .inpainting {
            guard let mask = input.mask else { throw InputError.missingMask }
            parts.mask = ([UInt8](mask), options.maskEncoding ?? .coco, input.known.map { [UInt8]($0) })
        }
        let output = try pipeline.run(parts, options: options.segmentation, on: segmenter, progress: progress, isCancelled: isCancelled)
        let files = try ResultFiles(output.result, fileName: "\(job.id).png", overlaying: output.image)
        return JobResult(panopticPNG: Data(files.panopticPNG), segmentsJSON: Data(files.segmentsJSON), overlayPNG: Data(files.overlayPNG ?? []),
                         uncertaintyPNG: files.uncertaintyPNG.map { Data($0) })
    }
}
