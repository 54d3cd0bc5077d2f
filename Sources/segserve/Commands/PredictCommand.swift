import ArgumentParser
import Foundation
import Synchronization
import Imaging
import Pipeline
import LDMSeg
import NNRuntime
import Service

/// `segserve predict`: a folder of images to COCO panoptic PNGs plus one predictions JSON that
/// `segserve eval` reads (segments with their scores, also kept per image in `<out>/segments`).
/// Images whose PNG already exists are skipped, so a run resumes.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict", abstract: "Segment every image of a folder (COCO panoptic output, resumable).",
        discussion: "With --jobs N, N images run at once, each on its own segmenter, and --threads is split between them.")

    @OptionGroup var inference: InferenceOptions
    @OptionGroup var ensemble: EnsembleOptions
    @Option(help: "folder of PNG/JPEG images") var images: String
    @Option(help: "output folder: <out>/panoptic/*.png and <out>/predictions.json") var out: String
    @Option(name: .customLong("semantic-dir"),
            help: "8-bit semantic label PNGs (same file stems): segments take the majority class") var semanticDir: String?
    @Option(help: "COCO panoptic categories JSON that semantic labels index (with --semantic-dir)") var categories: String?
    @Option(help: "images segmented at once (0: one per thread); each gets --threads / jobs runtime threads")
    var jobs = PredictCommand.defaultJobs

    /// One image per thread: running images side by side on one thread each beats splitting
    /// every layer across threads (docs/benchmarks.md, images per minute).
    static let defaultJobs = 0

    func validate() throws {
        guard jobs >= 0 else { throw ValidationError("--jobs must be >= 0") }
    }

    func run() throws {
        let workers = jobs == 0 ? max(1, inference.threads) : jobs
        let (model, options) = try inference.load(ensemble: ensemble)
        let files = try FileManager.default.contentsOfDirectory(atPath: images)
            .filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let pngDir = URL(fileURLWithPath: out).appendingPathComponent("panoptic")
        try FileManager.default.createDirectory(at: pngDir, withIntermediateDirectories: true)
        var categoryList: [PanopticCategory]?
        if semanticDir != nil {
            guard let categories else { throw ValidationError("--semantic-dir needs --categories") }
            categoryList = try JSONDecoder().decode([PanopticCategory].self, from: Data(contentsOf: URL(fileURLWithPath: categories)))
        }
        let job = PredictJob(model: model, options: options, threads: inference.threads(jobs: workers), images: URL(fileURLWithPath: images), pngDir: pngDir,
                             semanticDir: semanticDir.map { URL(fileURLWithPath: $0) }, categories: categoryList)
        let annotations = try job.run(files: files, workers: min(workers, max(files.count, 1)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let listed = categoryList.map { $0.map { PredictionsFile.Category(id: $0.id, name: $0.name, isthing: $0.isthing) } }
        try encoder.encode(PredictionsFile(annotations: annotations, categories: listed ?? [PredictionsFile.Category()]))
            .write(to: URL(fileURLWithPath: out).appendingPathComponent("predictions.json"))
        print("\(files.count) images -> \(out)/predictions.json")
    }
}

/// The images of one `predict` run, shared read-only by its workers.
struct PredictJob: Sendable {
    let model: LDMSegModel
    let options: SegmentationOptions
    /// Threads of each worker's forward passes.
    let threads: Int
    let images: URL
    let pngDir: URL
    let semanticDir: URL?
    let categories: [PanopticCategory]?

    /// Segments `files` on `workers` threads, each with its own `Segmenter`, taking the next
    /// unstarted image; returns the entries in file order. An image's result depends on the
    /// threads it runs with (`threads`), not on `workers`. The first error stops the
    /// workers from starting further images.
    func run(files: [String], workers: Int) throws -> [PredictionEntry] {
        let state = PredictProgress(count: files.count)
        let work: @Sendable () -> Void = {
            let pool = ComputePool(threads: threads)
            defer { pool.shutdown() }
            let segmenter = Segmenter(model: model, runtime: RuntimeOptions(pool: pool))
            while let i = state.next() {
                do { state.finish(i, try entry(index: i, file: files[i], segmenter: segmenter)) } catch { state.fail(error) }
            }
        }
        if workers <= 1 {
            work()
        } else {
            let group = DispatchGroup()
            for _ in 0..<workers {
                group.enter()
                let thread = Thread { work(); group.leave() }
                thread.stackSize = 8 << 20
                thread.start()
            }
            group.wait()
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        return try state.results()
    }

    /// One image: segmented unless its PNG exists (a resumed run), then described.
    func entry(index i: Int, file: String, segmenter: Segmenter) throws -> PredictionEntry {
        let stem = (file as NSString).deletingPathExtension
        let png = pngDir.appendingPathComponent(stem + ".png")
        // Segments with their scores, beside the PNGs, so a resumed run keeps them.
        let segmentsFile = pngDir.deletingLastPathComponent().appendingPathComponent("segments").appendingPathComponent(stem + ".json")
        var panoptic: PanopticResult
        if FileManager.default.fileExists(atPath: png.path) {
            let ids = try PanopticPNG.decode([UInt8](try Data(contentsOf: png)))
            panoptic = PanopticResult(width: ids.width, height: ids.height, ids: ids.ids)
            if let data = try? Data(contentsOf: segmentsFile), let saved = try? JSONDecoder().decode([PanopticSegment].self, from: data) {
                panoptic.segments = saved
            }
        } else {
            panoptic = try SegmentationPipeline(maxPixels: segmenter.maxPixels)
                .run(.init(image: try readFile(images.appendingPathComponent(file).path)), options: options, on: segmenter).result
            try FileManager.default.createDirectory(at: segmentsFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONEncoder().encode(panoptic.segments).write(to: segmentsFile, options: .atomic)
            try Data(try PanopticPNG.encode(ids: panoptic.ids, width: panoptic.width, height: panoptic.height)).write(to: png, options: .atomic)
        }
        if let semanticDir, let categories {
            let labelPNG = semanticDir.appendingPathComponent(stem + ".png")
            let labels: [Int]
            do {
                labels = try InputDecoding.semantic([UInt8](try Data(contentsOf: labelPNG)), width: panoptic.width, height: panoptic.height,
                                                    maxPixels: segmenter.maxPixels)
            } catch let error as InputError { throw ValidationError("\(labelPNG.path): \(error)") }
            panoptic = panoptic.categorised(labels: labels, categories: categories)
            try Data(try PanopticPNG.encode(ids: panoptic.ids, width: panoptic.width, height: panoptic.height)).write(to: png, options: .atomic)
        }
        return PredictionEntry(imageID: Int(stem) ?? i, fileName: stem + ".png", segments: panoptic.segments)
    }
}

/// Work distribution, results and the progress line of a `predict` run, behind a lock.
final class PredictProgress: Sendable {
    private struct State {
        var nextIndex = 0, done = 0
        var entries: [PredictionEntry?]
        var error: (any Error & Sendable)?
    }

    private let start = Date()
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(entries: Array(repeating: nil, count: count))) }

    /// The next image to start, or nil when all have started or one failed.
    func next() -> Int? {
        state.withLock { s in
            guard s.error == nil, s.nextIndex < s.entries.count else { return nil }
            defer { s.nextIndex += 1 }
            return s.nextIndex
        }
    }

    func finish(_ i: Int, _ entry: PredictionEntry) {
        state.withLock { s in
            s.entries[i] = entry
            s.done += 1
            let elapsed = Date().timeIntervalSince(start)
            let eta = elapsed / Double(s.done) * Double(s.entries.count - s.done)
            FileHandle.standardError.write(String(format: "\r%d/%d images, ETA %.0f s ", s.done, s.entries.count, eta).data(using: .utf8)!)
        }
    }

    func fail(_ e: any Error & Sendable) { state.withLock { s in if s.error == nil { s.error = e } } }

    func results() throws -> [PredictionEntry] {
        let (entries, error) = state.withLock { ($0.entries, $0.error) }
        if let error { throw error }
        return entries.map { $0! }
    }
}

/// One entry of a COCO panoptic predictions file.
struct PredictionEntry: Encodable, Sendable {
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
