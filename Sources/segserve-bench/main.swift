import ArgumentParser
import Foundation
import Imaging
import LDMSeg
import NNRuntime

/// Times one module's forward pass on weights from a safetensors file (made by
/// tools/bench/bench.py), or a whole default segmentation on a model directory. Prints one JSON
/// line: median and all timings, peak RSS. With `--serve` it times one pass per line read from
/// standard input instead, so a driver can alternate it with another implementation.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segserve-bench",
        abstract: "Time a UNet / VAE, TAESD or MobileNetV2 encoder forward pass, or a default segmentation.")

    @Option(help: "unet, vae, taesd, mobilenet_v2, hed or pipeline") var module: String
    @Option(help: "safetensors file with the module's weights") var weights: String?
    @Option(help: "input shape C,H,W") var shape: String?
    @Option(help: "model directory (pipeline)") var model: String?
    @Option(help: "PNG or JPEG image (pipeline)") var image: String?
    @Option(help: "UNet heads (diffusers attention_head_dim)") var heads = 8
    @Option(help: "GroupNorm groups") var groups = 32
    @Option(help: "timed runs after one warm-up") var runs = 3
    @Option(help: "threads for BLAS and our loops") var threads = 2
    @Flag(help: "use im2col for every conv") var noWinograd = false
    @Flag(help: "use Winograd F(2x2, 3x3), not the AVX-512 F(4x4, 3x3) kernel, for narrow convs") var noWinograd4x4 = false
    @Option(help: "fp32, bf16 (needs AVX512-BF16) or int8 (needs AVX512-VNNI); see Precision") var precision = Precision.fp32
    @Option(help: "most runs of an ensemble that go through the model as one batch (pipeline); 1: one at a time")
    var maxBatch = RuntimeOptions().maxBatch
    @Option(help: "maps per UNet pass (unet): the input is a [C, B, H, W] batch of --shape maps") var batch = 1
    @Option(name: .customLong("deep-cache"),
            help: "DeepCache interval (pipeline; default: the model's); for unet, any value above 1 times the shallow pass")
    var deepCache: Int?
    @Option(name: .customLong("token-merging"), help: "ToMe ratio of the top-level tokens merged (unet, pipeline; default: none / the model's)")
    var tokenMerging: Double?
    @Flag(help: "after the warm-up, time one pass per line of standard input and print {\"ms\": ...} for each")
    var serve = false

    func run() throws {
        var runtime = RuntimeOptions(pool: ComputePool(threads: threads))
        runtime.winograd = !noWinograd
        runtime.winograd4x4 = !noWinograd4x4
        runtime.precision = precision
        runtime.maxBatch = maxBatch
        let forward = try makeForward(runtime)
        try forward()
        if serve {
            while readLine() != nil {
                FileHandle.standardOutput.write(Data("{\"ms\": \(String(format: "%.2f", try time(forward)))}\n".utf8))
            }
            print("{\"peak_rss_mb\": \(peakResidentMiB())}")
            return
        }
        let times = try (0..<runs).map { _ in try time(forward) }
        let median = times.sorted()[times.count / 2]
        let all = times.map { String(format: "%.1f", $0) }.joined(separator: ",")
        print("{\"median_ms\": \(String(format: "%.1f", median)), \"runs_ms\": [\(all)], \"peak_rss_mb\": \(peakResidentMiB())}")
    }

    private func time(_ forward: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try forward()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    private func makeForward(_ runtime: RuntimeOptions) throws -> () throws -> Void {
        if module == "pipeline" {
            guard let model, let image else { throw ValidationError("pipeline needs --model and --image") }
            let loaded = try LDMSegModel(directory: model)
            let segmenter = Segmenter(model: loaded, runtime: runtime)
            let picture = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: image))), maxPixels: 40_000_000)
            var options = loaded.defaultOptions
            options.precision = precision  // a request's precision, not the runtime's, picks the products'
            if let deepCache { options.deepCache = deepCache }
            if let tokenMerging { options.tokenMerging = tokenMerging }
            try options.validate(trainSteps: loaded.scheduler.trainSteps)
            return { _ = try segmenter.segment(rgb: picture.pixels, width: picture.width, height: picture.height, options: options) }
        }
        guard let weights, let shape else { throw ValidationError("\(module) needs --weights and --shape") }
        let dims = shape.split(separator: ",").compactMap { Int($0) }
        guard dims.count == 3 else { throw ValidationError("--shape needs C,H,W") }
        var noise = GaussianNoise(seed: 1)
        let input = Tensor.batch((0..<(module == "unet" ? max(1, batch) : 1)).map { _ in noise.tensor(dims) })
        let store = try WeightStore(path: weights)
        let ws = Workspace(options: runtime)
        switch module {
        case "unet":
            var config = UNetConfig()
            config.attentionHeadDim = [heads]
            config.normNumGroups = groups
            let unet = try UNet2DCondition(weights: store, config: config)
            let timesteps = [Float](repeating: 500, count: input.maps.b), merging = Float(tokenMerging ?? 0)
            let deep = deepCache.map { $0 > 1 } == true ? unet.pass(input, timesteps: timesteps, reusing: nil, ws).deep : nil
            return { _ = unet.pass(input, timesteps: timesteps, reusing: deep, tokenMerging: merging, ws) }
        case "vae":
            let enc = try SDVAEEncoder(weights: store, groups: groups)
            return { _ = enc.encode(input, ws) }
        case "taesd":
            let enc = try TinyEncoder(weights: store)
            return { _ = enc.encode(input, ws) }
        case "mobilenet_v2":
            let enc = try MobileNetV2Encoder(weights: store)
            return { _ = enc.encode(input, ws) }
        case "hed":
            let net = try HEDNetwork(weights: store)
            return { _ = net.logits(rgb: input, ws) }
        default:
            throw ValidationError("unknown module \(module)")
        }
    }
}

/// VmHWM of this process image: getrusage's maxrss carries over the RSS of a parent that
/// forked us, so it would report the Python driver's memory.
func peakResidentMiB() -> Int {
    guard let handle = FileHandle(forReadingAtPath: "/proc/self/status"), let data = try? handle.readToEnd(),
          let text = String(data: data, encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return -1 }
    return kib / 1024
}

BLASKernel.configureProcess()
HeapTuning.keepLargeBlocks()
Bench.main()

extension Precision: ExpressibleByArgument {}
