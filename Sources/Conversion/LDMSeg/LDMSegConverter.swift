import Foundation
import NNRuntime

/// An official LDMSeg checkpoint (`ldmseg.pt`, as the paper's trainer saves it) to a segserve
/// model directory, with the same names, config.json and bytes as `tools/convert_ldmseg.py`.
///
/// The checkpoint is a dict: `unet` (diffusers UNet2DConditionModel keys, no cross-attention;
/// `conv_in` takes [noisy mask latent, image latent, self-condition] channels and is saved twice,
/// as `conv_in` and its alias `new_conv`), `vae_image` (the Stable Diffusion VAE, diffusers 0.16
/// attention names; only the encoder is used), `vae_semseg` (the mask auto-encoder) and `p`
/// (the training configuration). What segserve cannot run is refused by name.
package struct LDMSegConverter {
    /// Hyper-parameters the shapes do not give, from the diffusers configs of Stable Diffusion v1.4.
    static let sdUNet: [(String, PythonJSON)] = [
        ("attention_head_dim", .int(8)), ("norm_num_groups", .int(32)), ("norm_eps", .float(1e-5)),
        ("flip_sin_to_cos", .bool(true)), ("freq_shift", .int(0)),
    ]
    static let sdVAE: [(String, PythonJSON)] = [("norm_num_groups", .int(32))]
    /// The paper's evaluation thresholds (its base.yaml `eval_kwargs` and eval.sh).
    static let paperThresholds: [(String, PythonJSON)] = [("mask_th", .float(0.5)), ("count_th", .int(512)), ("overlap_th", .float(0.5))]
    /// The mask latent scale eval.sh and train_diffusion.sh set (base.yaml's 0.2 is overridden).
    static let releasedMaskScale = 0.18215
    /// diffusers 0.16 VAE attention names -> current ones.
    static let oldVAEAttention = ["query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"]

    package var dtype: SafeTensorsFile.DType = .f16
    /// diffusers `unet/config.json` and `vae/config.json` of the base model; Stable Diffusion v1.4's when nil.
    package var unetConfig: String?
    package var vaeConfig: String?
    /// A separate stage-1 auto-encoder checkpoint (`{"vae": state_dict}`) to use instead of `vae_semseg`.
    package var autoencoder: String?

    package init() {}

    /// Converts `checkpoint` into the model directory `out` and returns its config.json.
    @discardableResult
    package func convert(_ checkpoint: String, to out: String) throws -> PythonJSON {
        let ckpt = try TorchCheckpoint(path: checkpoint)
        guard let top = ckpt.root.dict else { throw CheckpointError.unsupported("\(checkpoint): not a dict checkpoint") }
        let p = top["p"].flatMap { $0.truthy ? $0.dict : nil } ?? PickleDict()
        var unet = try StateDict(top["unet"], part: "unet", of: ckpt)
        let image = try StateDict(top["vae_image"], part: "vae_image", of: ckpt)
        let semsegSource = try autoencoder.map { try TorchCheckpoint(path: $0) }
        let semseg = try semsegSource.map { try StateDict($0.root.dict?["vae"], part: "vae", of: $0) }
            ?? StateDict(top["vae_semseg"], part: "vae_semseg", of: ckpt)
        try unet.require(["conv_in.weight", "conv_out.weight", "time_embedding.linear_1.weight"], "unet")
        try image.require(["encoder.conv_in.weight", "quant_conv.weight"], "vae_image")
        try semseg.require(["encoder.0.weight", "decoder.0.weight"], semsegSource == nil ? "vae_semseg" : "vae")
        try Self.refuseUnsupported(p, unet)
        try Self.dropConvInAlias(&unet)
        let imageEncoder = image.filtered({ $0.hasPrefix("encoder.") || $0.hasPrefix("quant_conv.") }, rename: Self.renameOldVAEAttention)
        let maskAutoencoder = semseg.filtered { $0.hasPrefix("encoder.") || $0.hasPrefix("decoder.") }

        let maskLatent = try Self.convolution(unet, "conv_out.weight")[0]
        let imageLatent = try Self.convolution(image, "quant_conv.weight")[0] / 2
        let inChannels = try Self.convolution(unet, "conv_in.weight")[1]
        guard inChannels == maskLatent + imageLatent || inChannels == 2 * maskLatent + imageLatent else {
            throw CheckpointError.unsupported("conv_in takes \(inChannels) channels; expected \(maskLatent + imageLatent) "
                + "or \(2 * maskLatent + imageLatent) (with self-conditioning)")
        }
        let selfCondition = inChannels == 2 * maskLatent + imageLatent
        if let declared = Self.section(p, "train_kwargs")["self_condition"], declared.truthy != selfCondition {
            throw CheckpointError.unsupported("train_kwargs.self_condition=\(declared.text) but conv_in takes \(inChannels) channels")
        }

        let name = Self.stem(checkpoint)
        let config = try Self.config(p, name: name, selfCondition: selfCondition,
                                     unet: try Self.readConfig(unetConfig, Self.sdUNet), vae: try Self.readConfig(vaeConfig, Self.sdVAE))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let writer = SafeTensorsWriter(dtype: dtype)
        for (file, state) in [("unet", unet), ("image_encoder", imageEncoder), ("mask_autoencoder", maskAutoencoder)] {
            let items = state.names.map { SafeTensorsWriter.Item(name: $0, shape: state.shape($0)!) }
            try writer.write(items, to: "\(out)/\(file).safetensors") { (item) throws(CheckpointError) in try state.floats(item.name) }
        }
        try Data((config.dumped() + "\n").utf8).write(to: URL(fileURLWithPath: "\(out)/config.json"))
        return config
    }

    // MARK: - Checks

    static func section(_ p: PickleDict, _ name: String) -> PickleDict { p[name]?.dict ?? PickleDict() }

    /// The shape of a convolution weight [out, in, kh, kw].
    static func convolution(_ state: StateDict, _ name: String) throws(CheckpointError) -> [Int] {
        guard let shape = state.shape(name), shape.count == 4 else {
            throw .tensor(name: name, reason: "a convolution weight has 4 dimensions, not \(state.shape(name)?.count ?? 0)")
        }
        return shape
    }

    /// The official options whose models segserve does not compute.
    static func refuseUnsupported(_ p: PickleDict, _ unet: StateDict) throws(CheckpointError) {
        let model = section(p, "model_kwargs"), vae = section(p, "vae_model_kwargs"), train = section(p, "train_kwargs")
        let sched = section(p, "noise_scheduler_kwargs")
        func has(_ prefixes: String...) -> Bool { unet.names.contains { name in prefixes.contains { name.hasPrefix($0) } } }
        func flag(_ d: PickleDict, _ key: String) -> Bool { d[key]?.truthy ?? false }
        func value(_ d: PickleDict, _ key: String, default fallback: String) -> String { d[key]?.text ?? fallback }
        func isString(_ d: PickleDict, _ key: String, default fallback: String, in allowed: [String]) -> Bool {
            guard let v = d[key] else { return allowed.contains(fallback) }
            return v.string.map(allowed.contains) ?? false
        }
        let checks: [(Bool, String)] = [
            (flag(model, "separate_conv") || has("conv_in_seg."), "model_kwargs.separate_conv (a second input convolution for the mask latent)"),
            (flag(model, "separate_encoder") || has("conv_in_img.", "down_blocks_additional."),
             "model_kwargs.separate_encoder (a second UNet encoder for the image)"),
            (has("encoder_hid_proj.", "object_queries.") || unet.names.contains { $0.contains(".attn2.") },
             "cross-attention conditioning (image descriptors, text or object queries)"),
            (!isString(train, "image_descriptors", default: "remove", in: ["remove"]),
             "train_kwargs.image_descriptors=\(value(train, "image_descriptors", default: "remove"))"),
            (!isString(sched, "prediction_type", default: "epsilon", in: ["epsilon"]),
             "noise_scheduler_kwargs.prediction_type=\(value(sched, "prediction_type", default: "epsilon"))"),
            (!isString(sched, "beta_schedule", default: "scaled_linear", in: ["scaled_linear", "linear"]),
             "noise_scheduler_kwargs.beta_schedule=\(value(sched, "beta_schedule", default: "scaled_linear"))"),
            (flag(sched, "clip_sample"), "noise_scheduler_kwargs.clip_sample=True"),
            (flag(sched, "set_alpha_to_one"), "noise_scheduler_kwargs.set_alpha_to_one=True"),
            (!isString(vae, "parametrization", default: "gaussian", in: ["gaussian"]),
             "vae_model_kwargs.parametrization=\(value(vae, "parametrization", default: "gaussian"))"),
            (try (vae["num_mid_blocks"].flatMap { $0.truthy ? $0 : nil }?.int("vae_model_kwargs.num_mid_blocks") ?? 0) > 0,
             "vae_model_kwargs.num_mid_blocks > 0"),
            (flag(vae, "fuse_rgb") || flag(vae, "resize_input") || flag(vae, "skip_encoder"), "vae_model_kwargs.fuse_rgb/resize_input/skip_encoder"),
        ]
        if let (_, what) = checks.first(where: { $0.0 }) { throw .unsupported("unsupported: \(what)") }
    }

    /// The official UNet assigns `conv_in = new_conv`, so both names are saved (one storage).
    static func dropConvInAlias(_ unet: inout StateDict) throws(CheckpointError) {
        for alias in unet.names where alias.hasPrefix("new_conv.") {
            let target = "conv_in." + alias.dropFirst("new_conv.".count)
            let refused = CheckpointError.unsupported("'\(alias)' is not an alias of '\(target)'")
            guard let a = unet[alias], let t = unet[target], a.record.shape == t.record.shape else { throw refused }
            if a.record != t.record, try unet.floats(alias) != unet.floats(target) { throw refused }
            unet[alias] = nil
        }
    }

    static func renameOldVAEAttention(_ name: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, name.contains(".attentions."), let new = oldVAEAttention[parts[parts.count - 2]] else { return name }
        parts[parts.count - 2] = new
        return parts.joined(separator: ".")
    }
}
