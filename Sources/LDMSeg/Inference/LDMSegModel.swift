import Foundation
import NNRuntime

/// A loaded LDMSeg model: immutable and shared by every worker.
public final class LDMSegModel: Sendable {
    public let config: ModelConfig
    public let directory: String
    public let imageEncoder: any ImageEncoder
    public let maskAutoencoder: MaskAutoencoder
    public let unet: UNet2DCondition
    /// An edge detector whose conditioning maps follow the image latent into the UNet.
    public let edges: HEDNetwork?
    public let scheduler: DDIMScheduler
    /// The UNet takes the previous step's x0 estimate as extra input channels.
    public let selfConditioning: Bool
    public let preprocessing: ModelConfig.PreprocessingSection

    /// Loads `config.json` and the safetensors files of a model directory.
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
        if let scoring = config.scoring, !scoring.isValid {
            throw LDMSegError.invalidConfig("scoring needs 2 finite 'single' and 3 finite 'ensemble' coefficients")
        }
        if let section = config.edges {
            guard section.type == "hed" else { throw LDMSegError.invalidConfig("edges.type '\(section.type)' (hed)") }
            if let depth = section.snapDepth, !(depth > 0 && depth <= 1) {
                throw LDMSegError.invalidConfig("edges.snap_depth \(depth) outside (0, 1]")
            }
            edges = try HEDNetwork(weights: try store(section.weights))
        } else {
            edges = nil
        }

        let mask = maskAutoencoder.latentChannels
        let image = imageEncoder.latentChannels + (edges?.conditioningChannels(cell: maskAutoencoder.downFactor) ?? 0)
        selfConditioning = config.unet.selfConditioning ?? (unet.inChannels == 2 * mask + image)
        let expectedIn = mask + image + (selfConditioning ? mask : 0)
        guard unet.inChannels == expectedIn, unet.outChannels == mask else {
            throw NNError.shapeMismatch(name: "conv_in/conv_out", expected: [expectedIn, mask],
                                        actual: [unet.inChannels, unet.outChannels])
        }
        preprocessing = config.preprocessing ?? ModelConfig.PreprocessingSection()
        if let m = preprocessing.padMultiple {
            let unit = maskAutoencoder.downFactor * unet.downFactor
            guard m > 0, m % unit == 0 else {
                throw LDMSegError.invalidConfig("preprocessing.pad_multiple \(m) must be a positive multiple of \(unit)")
            }
        }
        if let v = config.maskAutoencoder.voidSlot, !(0..<maskAutoencoder.slots).contains(v) {
            throw LDMSegError.invalidConfig("mask_autoencoder.void_slot \(v) outside 0..<\(maskAutoencoder.slots)")
        }
        guard imageEncoder.downFactor == maskAutoencoder.downFactor else {
            throw LDMSegError.invalidConfig("image encoder downsamples x\(imageEncoder.downFactor), mask encoder x\(maskAutoencoder.downFactor)")
        }
    }

    /// Padded working sizes are multiples of this.
    public var sizeMultiple: Int { preprocessing.padMultiple ?? max(64, maskAutoencoder.downFactor * unet.downFactor) }

    public var defaultOptions: SegmentationOptions {
        let i = config.inference
        return SegmentationOptions(steps: i.steps, seed: 0, resolution: i.resolution,
                                   postProcessing: PostProcessingOptions(maskThreshold: i.maskTh, countThreshold: i.countTh,
                                                                         overlapThreshold: i.overlapTh),
                                   ensemble: Ensemble(seeds: i.ensembleSeeds ?? 1, flip: i.flip ?? false),
                                   sampler: i.sampler ?? .ddim, deepCache: i.deepCache ?? 1, tokenMerging: i.tokenMerging ?? 0)
    }
}
