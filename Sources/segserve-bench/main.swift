import ArgumentParser
import Foundation
import LDMSeg
import NNRuntime

/// Times one module's forward pass on weights from a safetensors file (made by
/// tools/bench/bench.py) and prints one JSON line: median and all timings, peak RSS.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segserve-bench",
                                                    abstract: "Time a UNet / VAE, TAESD or MobileNetV2 encoder forward pass.")

    @Option(help: "unet, vae, taesd or mobilenet_v2") var module: String
    @Option(help: "safetensors file with the module's weights") var weights: String
    @Option(help: "input shape C,H,W") var shape: String
    @Option(help: "UNet heads (diffusers attention_head_dim)") var heads = 8
    @Option(help: "GroupNorm groups") var groups = 32
    @Option(help: "timed runs after one warm-up") var runs = 3
    @Option(help: "threads for BLAS and our loops") var threads = 2
    @Flag(help: "use im2col for every conv") var noWinograd = false
    @Flag(help: "use Winograd F(2x2, 3x3), not the AVX-512 F(4x4, 3x3) kernel, for narrow convs") var noWinograd4x4 = false

    func run() throws {
        Parallel.configure(threads: threads)
        Conv2D.useWinograd = !noWinograd
        Conv2D.useWinograd4x4 = !noWinograd4x4
        let dims = shape.split(separator: ",").compactMap { Int($0) }
        guard dims.count == 3 else { throw ValidationError("--shape needs C,H,W") }
        var noise = GaussianNoise(seed: 1)
        let input = noise.tensor(dims)
        let store = try WeightStore(path: weights)
        let ws = Workspace()
        let forward: () -> Tensor
        switch module {
        case "unet":
            var config = UNetConfig()
            config.attentionHeadDim = [heads]
            config.normNumGroups = groups
            let unet = try UNet2DCondition(weights: store, config: config)
            forward = { unet(input, timestep: 500, ws) }
        case "vae":
            let enc = try SDVAEEncoder(weights: store, groups: groups)
            forward = { enc.encode(input, ws) }
        case "taesd":
            let enc = try TinyEncoder(weights: store)
            forward = { enc.encode(input, ws) }
        case "mobilenet_v2":
            let enc = try MobileNetV2Encoder(weights: store)
            forward = { enc.encode(input, ws) }
        default:
            throw ValidationError("unknown module \(module)")
        }
        _ = forward()
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = forward()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = times.sorted()[times.count / 2]
        let all = times.map { String(format: "%.1f", $0) }.joined(separator: ",")
        print("{\"median_ms\": \(String(format: "%.1f", median)), \"runs_ms\": [\(all)], \"peak_rss_mb\": \(peakResidentMiB())}")
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
