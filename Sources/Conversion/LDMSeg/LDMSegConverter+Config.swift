import Foundation

/// config.json of a converted model: the paper's evaluation setup (squash resize with bicubic,
/// self-conditioning when conv_in has its channels, slot 0 void, its thresholds), with what the
/// training configuration `p` and the base model's diffusers configs say.
extension LDMSegConverter {
    static func config(_ p: PickleDict, name: String, selfCondition: Bool,
                       unet: [String: PythonJSON], vae: [String: PythonJSON]) throws(CheckpointError) -> PythonJSON {
        let vaeKwargs = section(p, "vae_model_kwargs"), sched = section(p, "noise_scheduler_kwargs")
        let sampling = section(p, "sampling_kwargs"), transform = section(p, "transformation_kwargs")
        func get(_ d: PickleDict, _ key: String, _ fallback: PickleValue) -> PickleValue { d[key] ?? fallback }
        let size = try get(transform, "size", .int(512)).int("transformation_kwargs.size")
        return .object([
            ("format", .string("ldmseg")), ("format_version", .int(1)),
            ("name", .string(name)),
            ("image_encoder", .object([
                ("type", .string("sd_vae")), ("weights", .string("image_encoder.safetensors")), ("input_range", .array([.float(-1), .float(1)])),
                ("scaling_factor", .float(try get(p, "image_scaling_factor", .float(0.18215)).float("image_scaling_factor"))),
                ("norm_num_groups", .int(try vae["norm_num_groups"]!.scalar.int("vae config norm_num_groups"))),
            ])),
            ("mask_autoencoder", .object([
                ("weights", .string("mask_autoencoder.safetensors")),
                ("scaling_factor", .float(try get(vaeKwargs, "scaling_factor", .float(releasedMaskScale)).float("vae_model_kwargs.scaling_factor"))),
                ("norm_num_groups", .int(try get(vaeKwargs, "norm_num_groups", .int(32)).int("vae_model_kwargs.norm_num_groups"))),
                ("void_slot", .int(try get(p, "ignore_label", .int(0)).int("ignore_label"))),
            ])),
            ("unet", .object([
                ("weights", .string("unet.safetensors")), ("attention_head_dim", unet["attention_head_dim"]!),
                ("norm_num_groups", .int(try unet["norm_num_groups"]!.scalar.int("unet config norm_num_groups"))),
                ("norm_eps", .float(try unet["norm_eps"]!.scalar.float("unet config norm_eps"))),
                ("flip_sin_to_cos", .bool(unet["flip_sin_to_cos"]!.scalar.truthy)),
                ("freq_shift", .float(try unet["freq_shift"]!.scalar.float("unet config freq_shift"))),
                ("self_conditioning", .bool(selfCondition)),
            ])),
            ("scheduler", .object([
                ("num_train_timesteps", .int(try get(sched, "num_train_timesteps", .int(1000)).int("noise_scheduler_kwargs.num_train_timesteps"))),
                ("beta_start", .float(try get(sched, "beta_start", .float(0.00085)).float("noise_scheduler_kwargs.beta_start"))),
                ("beta_end", .float(try get(sched, "beta_end", .float(0.012)).float("noise_scheduler_kwargs.beta_end"))),
                ("beta_schedule", .string(get(sched, "beta_schedule", .string("scaled_linear")).text)),  // refused unless a known name
            ])),
            ("preprocessing", .object([("resize", .string("squash")), ("interpolation", .string("bicubic")), ("pad_multiple", .int(64))])),
            ("inference", .object([
                ("steps", .int(try get(sampling, "num_inference_steps", .int(50)).int("sampling_kwargs.num_inference_steps"))),
                ("resolution", .int(size)),
            ] + paperThresholds)),
        ])
    }

    /// The keys of `defaults` from a diffusers config.json, each defaulted when absent.
    static func readConfig(_ path: String?, _ defaults: [(String, PythonJSON)]) throws -> [String: PythonJSON] {
        var out = Dictionary(uniqueKeysWithValues: defaults)
        guard let path else { return out }
        let given = try JSONDecoder().decode([String: PythonJSON].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        for (key, _) in defaults { out[key] = given[key] ?? out[key] }
        return out
    }

    /// `os.path.splitext(os.path.basename(path))[0]`: leading dots never start an extension.
    static func stem(_ path: String) -> String {
        let base = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        guard let dot = base.lastIndex(of: "."), base[..<dot].contains(where: { $0 != "." }) else { return base }
        return String(base[..<dot])
    }
}

extension PythonJSON: Decodable {
    package init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let f = try? c.decode(Double.self) { self = .float(f) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([PythonJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: PythonJSON].self).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) }
    }

    /// The value as a pickled scalar, for Python's `int()`/`float()`/`bool()` on it.
    var scalar: PickleValue {
        switch self {
        case .null: .none
        case .bool(let b): .bool(b)
        case .int(let i): .int(i)
        case .float(let f): .float(f)
        case .string(let s): .string(s)
        case .array(let items): .tuple(PickleList(items.map(\.scalar)))  // int()/float() refuse it, as Python's do
        case .object(let entries): .tuple(PickleList(entries.map(\.1.scalar)))
        }
    }
}
