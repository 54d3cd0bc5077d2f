import Foundation
import JobStore
import LDMSeg
import Pipeline

/// Runs one job's model work on a worker's `Segmenter` and renders its result files.
struct JobRunner: Sendable {
    let maxPixels: Int
    /// Categories that semantic label maps index; nil: semantic parts are not used.
    let categories: [PanopticCategory]?

    func run(_ job: Job, input: JobInput, on segmenter: Segmenter, progress: Segmenter.Progress,
             isCancelled: () -> Bool) throws -> JobResult {
        let options = try JSONDecoder().decode(JobOptions.self, from: job.options)
        let image = try InputDecoding.image([UInt8](input.image), maxPixels: maxPixels)
        var result: PanopticResult
        switch job.kind {
        case .segmentation:
            result = try segmenter.segment(rgb: image.pixels, width: image.width, height: image.height, options: options.segmentation,
                                           progress: progress, isCancelled: isCancelled)
        case .inpainting:
            guard let maskBytes = input.mask else { throw InputError.missingMask }
            let mask = try InputDecoding.mask([UInt8](maskBytes), known: input.known.map { [UInt8]($0) },
                                              encoding: options.maskEncoding ?? .coco, width: image.width, height: image.height,
                                              maxPixels: maxPixels, slotCapacity: segmenter.model.maskAutoencoder.slots - 1)
            result = try segmenter.inpaint(rgb: image.pixels, width: image.width, height: image.height, partial: mask.ids,
                                           known: mask.known, options: options.segmentation, progress: progress, isCancelled: isCancelled)
        }
        if let semantic = input.semantic, let categories {
            let labels = try InputDecoding.semantic([UInt8](semantic), width: image.width, height: image.height, maxPixels: maxPixels)
            result = result.categorised(labels: labels, categories: categories)
        }
        let files = try ResultFiles(result, fileName: "\(job.id).png", overlaying: image)
        return JobResult(panopticPNG: Data(files.panopticPNG), segmentsJSON: Data(files.segmentsJSON), overlayPNG: Data(files.overlayPNG ?? []))
    }
}
