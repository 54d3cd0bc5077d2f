import Foundation
import NNRuntime

/// A loaded LDMSeg model: immutable and shared by every worker.
public final class LDMSegModel: Sendable {
    public let config: ModelConfig
    public let directory: String
    public let imageEncoder: any ImageEncoder
    public let maskAutoencoder: MaskAutoencoder
    public let unet: UNet2DCondition
    public let scheduler: DDIMScheduler

    /// Loads `config.json` and the three safetensors files of a model directory.
    public init(directory: String) throws {
        self.directory = directory
        let url = URL(fileURLWithPath: directory)
        let configData: Data
        do { configData = try Data(contentsOf: url.appendingPathComponent("config.json")) } catch {
            throw LDMSegError.invalidModelDirectory(path: directory, reason: "cannot read config.json")
        }
        do { config = try JSONDecoder().decode(ModelConfig.self, from: configData) } catch {
            throw LDMSegError.invalidModelDirectory(path: directory, reason: "config.json: \(error)")
        }
        guard config.format == "ldmseg", config.formatVersion == 1 else {
            throw LDMSegError.invalidModelDirectory(path: directory, reason: "format \(config.format) v\(config.formatVersion); expected ldmseg v1")
        }
        func store(_ file: String) throws -> WeightStore { try WeightStore(path: url.appendingPathComponent(file).path) }
        let enc = config.imageEncoder
        switch enc.type {
        case "taesd": imageEncoder = try TinyEncoder(weights: try store(enc.weights))
        case "sd_vae": imageEncoder = try SDVAEEncoder(weights: try store(enc.weights), groups: enc.normNumGroups ?? 32)
        case "mobilenet_v2": imageEncoder = try MobileNetV2Encoder(weights: try store(enc.weights))
        default: throw LDMSegError.invalidConfig("image_encoder.type '\(enc.type)' (taesd, sd_vae or mobilenet_v2)")
        }
        guard enc.inputRange.count == 2, enc.inputRange[0] < enc.inputRange[1] else {
            throw LDMSegError.invalidConfig("image_encoder.input_range \(enc.inputRange)")
        }
        maskAutoencoder = try MaskAutoencoder(weights: try store(config.maskAutoencoder.weights),
                                              groups: config.maskAutoencoder.normNumGroups)
        unet = try UNet2DCondition(weights: try store(config.unet.weights), config: config.unet.config)
        scheduler = try DDIMScheduler(config: config.scheduler)

        let expectedIn = maskAutoencoder.latentChannels + imageEncoder.latentChannels
        guard unet.inChannels == expectedIn, unet.outChannels == maskAutoencoder.latentChannels else {
            throw NNError.shapeMismatch(name: "conv_in/conv_out", expected: [expectedIn, maskAutoencoder.latentChannels],
                                        actual: [unet.inChannels, unet.outChannels])
        }
        guard imageEncoder.downFactor == maskAutoencoder.downFactor else {
            throw LDMSegError.invalidConfig("image encoder downsamples x\(imageEncoder.downFactor), mask encoder x\(maskAutoencoder.downFactor)")
        }
    }

    /// Working sizes must be multiples of this.
    public var sizeMultiple: Int { max(64, maskAutoencoder.downFactor * unet.downFactor) }

    public var defaultOptions: SegmentationOptions {
        let i = config.inference
        return SegmentationOptions(steps: i.steps, seed: 0, resolution: i.resolution,
                                   postProcessing: PostProcessingOptions(maskThreshold: i.maskTh, countThreshold: i.countTh,
                                                                         overlapThreshold: i.overlapTh),
                                   ensemble: Ensemble(seeds: i.ensembleSeeds ?? 1, flip: i.flip ?? false))
    }
}
