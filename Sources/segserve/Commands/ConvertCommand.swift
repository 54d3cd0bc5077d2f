import ArgumentParser
import Conversion
import NNRuntime

/// `segserve convert`: an official LDMSeg checkpoint to a model directory, without Python. The
/// checkpoint is read by a restricted unpickler, so a hostile file is refused, never run.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert an official LDMSeg checkpoint (ldmseg.pt) to a segserve model directory.",
        discussion: """
            Writes config.json, unet.safetensors, image_encoder.safetensors and mask_autoencoder.safetensors, \
            as tools/convert_ldmseg.py does (same names, same bytes for the same --dtype). Models segserve \
            cannot run are refused with the reason (docs/model.md, "The paper's model").
            """)

    enum DType: String, ExpressibleByArgument, CaseIterable {
        case float32, float16, bfloat16
        var safetensors: SafeTensorsFile.DType { switch self { case .float32: .f32; case .float16: .f16; case .bfloat16: .bf16 } }
    }

    @Argument(help: "the checkpoint, as the paper's trainer saves it (torch.save zip format)") var checkpoint: String
    @Argument(help: "the model directory to write") var out: String
    @Option(help: "a separate stage-1 auto-encoder checkpoint ({'vae': state_dict}) instead of vae_semseg") var ae: String?
    @Option(help: "weight precision on disk (\(DType.allCases.map(\.rawValue).joined(separator: ", ")))") var dtype: DType = .float16
    @Option(name: .customLong("unet-config"), help: "diffusers unet/config.json of the base model (default: Stable Diffusion v1.4)")
    var unetConfig: String?
    @Option(name: .customLong("vae-config"), help: "diffusers vae/config.json of the base model (default: Stable Diffusion v1.4)")
    var vaeConfig: String?

    func run() throws {
        var converter = LDMSegConverter()
        converter.dtype = dtype.safetensors
        converter.autoencoder = ae
        converter.unetConfig = unetConfig
        converter.vaeConfig = vaeConfig
        try converter.convert(checkpoint, to: out)
        print("wrote \(out)")
    }
}
