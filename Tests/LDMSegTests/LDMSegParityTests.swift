import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

/// The LDMSeg parts and the whole pipeline against tools/reference/ldmseg_reference.py.
final class LDMSegParityTests: XCTestCase {
    let ws = Workspace.testing()

    func testTinyEncoder() throws {
        let f = try Fixture("taesd_encoder", in: .module)
        let enc = try TinyEncoder(weights: f.weights())
        XCTAssertEqual(enc.latentChannels, 8)
        XCTAssertEqual(enc.downFactor, 8)
        assertClose(enc.encode(try f.tensor("__input__.x"), ws), try f.tensor("__output__.latent"), "taesd_encoder")
    }

    func testMobileNetV2Encoder() throws {
        let f = try Fixture("mobilenet_v2_encoder", in: .module)
        let enc = try MobileNetV2Encoder(weights: f.weights())
        XCTAssertEqual([enc.latentChannels, enc.downFactor], [8, 8])
        // Ten as in the full-width network, plus features.1, whose 8 -> 8 channels match at width 0.25.
        XCTAssertEqual(enc.blocks.map { $0.residual }.filter { $0 }.count, 11, "blocks with an identity shortcut")
        assertClose(enc.encode(try f.tensor("__input__.x"), ws), try f.tensor("__output__.latent"), "mobilenet_v2_encoder")
        let missing = WeightStore(files: [f.file], exclude: ["__input__.", "__output__.", "fuse.s16."], mountedAt: "")
        XCTAssertThrowsError(try MobileNetV2Encoder(weights: missing)) {
            XCTAssertEqual($0 as? NNError, .missingTensor(name: "fuse.s16.weight"))
        }
    }

    func testMaskAutoencoder() throws {
        let f = try Fixture("mask_ae", in: .module)
        let ae = try MaskAutoencoder(weights: f.weights(), groups: 8)
        XCTAssertEqual([ae.bits, ae.slots, ae.latentChannels, ae.downFactor, ae.interpolationFactor], [7, 128, 4, 8, 2])
        let slots = try f.tensor("__input__.slots").array.map { Int32($0) }
        let bits = BitEncoding.encode(slots: slots, width: 32, height: 32, bits: 7)
        assertClose(bits, try f.tensor("__input__.bits"), tolerance: 0, "bit encoding")
        let mean = ae.encode(bits, ws)
        assertClose(mean, try f.tensor("__output__.mean"), "mask encoder")
        let logits = ae.decode(try f.tensor("__output__.mean"), ws)
        assertClose(logits, try f.tensor("__output__.logits"), "mask decoder")
        assertClose(Resize.bilinear(logits, height: 32, width: 32, ws), try f.tensor("__output__.logits_x2"), "x2 logits")
    }

    func testDDIMTrajectory() throws {
        let f = try Fixture("ddim", in: .module)
        let s = try DDIMScheduler()
        let eps = try f.tensor("__input__.eps"), expected = try f.tensor("__output__.trajectory")
        let steps = eps.shape[0]
        XCTAssertEqual(s.timesteps(steps: steps).map(Float.init), try f.tensor("__output__.timesteps").array)
        let x = try f.tensor("__input__.x")
        for (i, t) in s.timesteps(steps: steps).enumerated() {
            s.step(x, eps: eps.slice(i..<(i + 1)).reshaped(x.shape), t: t, steps: steps, last: i == steps - 1)
            assertClose(x, expected.slice(i..<(i + 1)).reshaped(x.shape), "step \(i) (t=\(t))")
        }
    }

    /// DPM-Solver++(2M) against diffusers' DPMSolverMultistepScheduler on the same timesteps and epsilons.
    func testDPMSolverTrajectory() throws {
        let f = try Fixture("dpm_solver", in: .module)
        let s = try DDIMScheduler()
        let eps = try f.tensor("__input__.eps"), expected = try f.tensor("__output__.trajectory")
        let steps = eps.shape[0], timesteps = s.timesteps(steps: steps)
        XCTAssertEqual(timesteps.map(Float.init), try f.tensor("__output__.timesteps").array)
        let x = try f.tensor("__input__.x")
        var previous: (x0: Tensor, t: Int)?
        for (i, t) in timesteps.enumerated() {
            let x0 = Tensor(shape: x.shape)
            s.dpmSolverStep(x, eps: eps.slice(i..<(i + 1)).reshaped(x.shape), t: t, next: i + 1 < steps ? timesteps[i + 1] : nil,
                            previous: previous, x0: x0)
            assertClose(x, expected.slice(i..<(i + 1)).reshaped(x.shape), "step \(i) (t=\(t))")
            previous = (x0, t)
        }
    }

    /// A whole segment and inpaint run of a random tiny model: latents within 1e-4 / 1e-3, and
    /// panoptic ids equal on at least 99.9% of pixels.
    func testTinyModelPipeline() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_model", withExtension: nil))
        let model = try LDMSegModel(directory: dir.path)
        let io = try Fixture("tiny_model_io", in: .module)
        let image = try io.tensor("__input__.image")
        let (h, w) = (image.shape[0], image.shape[1])
        let rgb = image.array.map { UInt8($0) }
        var options = model.defaultOptions
        XCTAssertEqual(options.steps, 4)
        options.seed = 0
        let segmenter = Segmenter(model: model)
        var progress: [Int] = []
        let run = try segmenter.segment(rgb: rgb, width: w, height: h, options: options,
                                        noise: try io.tensor("__input__.noise"), progress: { step, _ in progress.append(step) })
        XCTAssertEqual(progress, [1, 2, 3, 4])
        assertClose(run.imageLatent, try io.tensor("__output__.image_latent"), "image latent")
        assertClose(run.latent, try io.tensor("__output__.latent"), tolerance: 1e-3, "mask latent after DDIM")
        let expected = try io.tensor("__output__.ids").array.map { UInt32($0) }
        assertAgreement(run.result.ids, expected, "segment")
        XCTAssertGreaterThanOrEqual(Set(expected).count, 4)

        let partial = try io.tensor("__input__.partial").array.map { UInt32($0) }
        let known = try io.tensor("__input__.known").array.map { $0 > 0.5 }
        let inpainted = try segmenter.inpaint(rgb: rgb, width: w, height: h, partial: partial, known: known, options: options,
                                              noise: (try io.tensor("__input__.noise"), try io.tensor("__input__.known_noise")))
        assertAgreement(inpainted.ids, try io.tensor("__output__.inpainted").array.map { UInt32($0) }, "inpaint")
        for i in 0..<partial.count where known[i] { XCTAssertEqual(inpainted.ids[i], partial[i]) }
    }

    func testSameSeedSameResultAndCancellation() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_model", withExtension: nil))
        let model = try LDMSegModel(directory: dir.path)
        let rgb = (0..<(30 * 20 * 3)).map { UInt8(($0 * 37) % 256) }
        var options = model.defaultOptions
        options.seed = 42
        let a = try Segmenter(model: model).segment(rgb: rgb, width: 30, height: 20, options: options)
        let b = try Segmenter(model: model).segment(rgb: rgb, width: 30, height: 20, options: options)
        XCTAssertEqual(a, b)
        var calls = 0
        XCTAssertThrowsError(try Segmenter(model: model).segment(rgb: rgb, width: 30, height: 20, options: options,
                                                                 isCancelled: { calls += 1; return calls > 2 })) {
            XCTAssertEqual($0 as? LDMSegError, .cancelled)
        }
        XCTAssertThrowsError(try Segmenter(model: model).segment(rgb: [], width: 0, height: 0, options: options))
        let limited = Segmenter(model: model, maxPixels: 100)
        XCTAssertThrowsError(try limited.segment(rgb: rgb, width: 30, height: 20, options: options)) {
            XCTAssertEqual($0 as? LDMSegError, .tooManyPixels(width: 30, height: 20, limit: 100))
        }
    }

    func assertAgreement(_ a: [UInt32], _ b: [UInt32], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        let same = zip(a, b).filter { $0 == $1 }.count
        let fraction = Double(same) / Double(max(b.count, 1))
        XCTAssertGreaterThanOrEqual(fraction, 0.999, "\(label): \(same)/\(b.count) pixels agree", file: file, line: line)
    }
}

final class ModelDirectoryTests: XCTestCase {
    func copyTinyModel() throws -> URL {
        let src = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/tiny_model", withExtension: nil))
        let dst = FileManager.default.temporaryDirectory.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: src, to: dst)
        addTeardownBlock { try? FileManager.default.removeItem(at: dst) }
        return dst
    }

    func editConfig(_ dir: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
    }

    func testMissingAndMalformedConfigAreNamed() throws {
        XCTAssertThrowsError(try LDMSegModel(directory: "/nonexistent")) { error in
            guard case LDMSegError.invalidModelDirectory(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("config.json"), reason)
        }
        let dir = try copyTinyModel()
        try editConfig(dir) { $0["format_version"] = 7 }
        XCTAssertThrowsError(try LDMSegModel(directory: dir.path))
        let other = try copyTinyModel()
        try editConfig(other) { c in
            var e = c["image_encoder"] as! [String: Any]
            e["type"] = "clip"
            c["image_encoder"] = e
        }
        XCTAssertThrowsError(try LDMSegModel(directory: other.path)) { error in
            guard case LDMSegError.invalidConfig(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("clip"), m)
        }
    }

    func testTruncatedWeightsAreAnErrorNotACrash() throws {
        let dir = try copyTinyModel()
        let unet = dir.appendingPathComponent("unet.safetensors")
        let bytes = try Data(contentsOf: unet)
        try bytes.prefix(bytes.count / 2).write(to: unet)
        XCTAssertThrowsError(try LDMSegModel(directory: dir.path)) { error in
            guard case NNError.invalidTensorEntry = error else { return XCTFail("\(error)") }
        }
    }

    func testMismatchedPartsAreRejected() throws {
        let dir = try copyTinyModel()
        // The SD VAE fixture as image encoder: 4 latent channels where the UNet expects 8.
        let vae = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/vae_encoder", withExtension: "safetensors"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("image_encoder.safetensors"))
        try FileManager.default.copyItem(at: vae, to: dir.appendingPathComponent("image_encoder.safetensors"))
        try editConfig(dir) { c in
            var e = c["image_encoder"] as! [String: Any]
            e["type"] = "sd_vae"
            e["norm_num_groups"] = 8
            c["image_encoder"] = e
        }
        XCTAssertThrowsError(try LDMSegModel(directory: dir.path))
    }

    func testPreprocessingSelfConditioningAndVoidSlotComeFromTheConfig() throws {
        let plain = try LDMSegModel(directory: try copyTinyModel().path)
        XCTAssertFalse(plain.selfConditioning, "conv_in takes 4 + 8 channels: no self-conditioning")
        XCTAssertEqual(plain.preprocessing, ModelConfig.PreprocessingSection(resize: .longestSide, interpolation: .bilinear))
        XCTAssertEqual(plain.sizeMultiple, 64)

        let dir = try copyTinyModel()
        try editConfig(dir) { c in
            c["preprocessing"] = ["resize": "squash", "interpolation": "bicubic", "pad_multiple": 32]
            var m = c["mask_autoencoder"] as! [String: Any]
            m["void_slot"] = 0
            c["mask_autoencoder"] = m
        }
        let squash = try LDMSegModel(directory: dir.path)
        XCTAssertEqual(squash.preprocessing, ModelConfig.PreprocessingSection(resize: .squash, interpolation: .bicubic, padMultiple: 32))
        XCTAssertEqual(squash.sizeMultiple, 32)
        var options = squash.defaultOptions
        options.resolution = 96
        let frame = try Segmenter(model: squash).prepare(rgb: [UInt8](repeating: 90, count: 40 * 56 * 3), width: 56, height: 40,
                                                         options: options)
        XCTAssertEqual([frame.workHeight, frame.workWidth, frame.padHeight, frame.padWidth], [96, 96, 96, 96])

        let selfConditioned = try copyTinyModel()
        try editConfig(selfConditioned) { c in
            var u = c["unet"] as! [String: Any]
            u["self_conditioning"] = true
            c["unet"] = u
        }
        XCTAssertThrowsError(try LDMSegModel(directory: selfConditioned.path)) { error in
            guard case NNError.shapeMismatch(_, let expected, let actual) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(expected.first, 16, "self-conditioning needs 4 more input channels")
            XCTAssertEqual(actual.first, 12)
        }
        for (key, value) in [("pad_multiple", 40), ("void_slot", 128)] {
            let bad = try copyTinyModel()
            try editConfig(bad) { c in
                if key == "pad_multiple" { c["preprocessing"] = ["pad_multiple": value] } else {
                    var m = c["mask_autoencoder"] as! [String: Any]
                    m[key] = value
                    c["mask_autoencoder"] = m
                }
            }
            XCTAssertThrowsError(try LDMSegModel(directory: bad.path)) { error in
                guard case LDMSegError.invalidConfig(let m) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(m.contains(key), m)
            }
        }
    }
}
