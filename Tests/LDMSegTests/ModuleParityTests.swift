import XCTest
@testable import LDMSeg
import NNRuntime
import TestSupport

/// Each module against diffusers on its fixture (tools/reference/make_fixtures.py):
/// relative error = max |ours - torch| / max |torch| <= 1e-4.
final class ModuleParityTests: XCTestCase {
    let ws = Workspace.testing()

    func testResnetBlock2D() throws {
        let f = try Fixture("resnet_block", in: .module)
        let config = f.metadata("config")
        let block = try ResnetBlock2D(f.weights(mountedAt: "m."), "m", groups: config["groups"] as! Int, eps: 1e-5)
        let temb = try f.tensor("__input__.temb")
        Activation.silu.apply(temb.data, count: temb.count, ws)  // the UNet hands blocks SiLU(emb)
        assertClose(block(try f.tensor("__input__.x"), temb, ws), try f.tensor("__output__.y"), "resnet_block")
    }

    func testTransformer2D() throws {
        for name in ["transformer2d", "transformer2d_linear"] {
            let f = try Fixture(name, in: .module)
            let config = f.metadata("config")
            let t = try Transformer2D(f.weights(mountedAt: "m."), "m", heads: config["num_attention_heads"] as! Int,
                                      groups: config["norm_num_groups"] as! Int)
            assertClose(t(try f.tensor("__input__.x"), ws), try f.tensor("__output__.y"), name)
        }
    }

    /// The UNet of a module fixture, configured from its metadata.
    func unet(_ f: Fixture) throws -> UNet2DCondition {
        let c = f.metadata("config")
        var config = UNetConfig()
        if let heads = c["attention_head_dim"] as? [Int] { config.attentionHeadDim = heads }
        if let heads = c["attention_head_dim"] as? Int { config.attentionHeadDim = [heads] }
        config.normNumGroups = c["norm_num_groups"] as! Int
        return try UNet2DCondition(weights: f.weights(), config: config)
    }

    func testUNet() throws {
        for name in ["unet_tiny", "unet_tiny3"] {
            let f = try Fixture(name, in: .module)
            let c = f.metadata("config")
            let unet = try unet(f)
            let y = unet(try f.tensor("__input__.x"), timestep: Float(c["timestep"] as! Double), ws)
            assertClose(y, try f.tensor("__output__.y"), name)
        }
    }

    /// DeepCache: a full pass returns the deep feature, and a shallow pass at another input and
    /// timestep that reuses it matches the reference's.
    func testUNetDeepCachePasses() throws {
        let f = try Fixture("unet_deep_cache", in: .module)
        let unet = try unet(try Fixture(f.metadata("config")["weights"] as! String, in: .module))
        let t = (f.metadata("config")["timesteps"] as! [Double]).map(Float.init)
        let full = unet.pass(try f.tensor("__input__.x"), timesteps: [t[0]], reusing: nil, ws)
        assertClose(full.eps, try f.tensor("__output__.y"), "full pass")
        assertClose(full.deep, try f.tensor("__output__.deep"), "deep feature")
        let shallow = unet.pass(try f.tensor("__input__.x2"), timesteps: [t[1]], reusing: full.deep, ws)
        assertClose(shallow.eps, try f.tensor("__output__.y2"), "shallow pass")
        XCTAssert(shallow.deep === full.deep)
        // The shallow pass is not the full one: the deep feature comes from another input.
        let fresh = unet(try f.tensor("__input__.x2"), timesteps: [t[1]], ws)
        XCTAssertGreaterThan(zip(fresh.array, shallow.eps.array).map { abs($0 - $1) }.max()!, 1e-3)
    }

    /// Token merging (ToMe for SD) on a batch of two maps at two timesteps: each map merges its
    /// own tokens, in the top-level transformers only.
    func testUNetTokenMerging() throws {
        let f = try Fixture("unet_token_merging", in: .module)
        let unet = try unet(try Fixture(f.metadata("config")["weights"] as! String, in: .module))
        let t = (f.metadata("config")["timesteps"] as! [Double]).map(Float.init)
        let ratio = Float(f.metadata("config")["ratio"] as! Double)
        /// Maps `[B, C, H, W]` (PyTorch's layout) one by one.
        func items(_ x: Tensor) -> [Tensor] {
            let n = x.count / x.shape[0]
            return (0..<x.shape[0]).map { Tensor(shape: Array(x.shape.dropFirst()), values: Array(x.array[(($0) * n)..<(($0 + 1) * n)])) }
        }
        let x = try f.tensor("__input__.x"), expected = items(try f.tensor("__output__.y"))
        let merged = unet.pass(Tensor.batch(items(x)), timesteps: t, reusing: nil, tokenMerging: ratio, ws).eps
        for (i, y) in expected.enumerated() { assertClose(merged.item(i), y, "map \(i)") }
        let plain = unet(Tensor.batch(items(x)), timesteps: t, ws)
        XCTAssertGreaterThan(zip(plain.array, merged.array).map { abs($0 - $1) }.max()!, 1e-4, "tokens were merged")
    }

    func testSDVAEEncoder() throws {
        let f = try Fixture("vae_encoder", in: .module)
        let enc = try SDVAEEncoder(weights: f.weights(), groups: f.metadata("config")["norm_num_groups"] as! Int)
        XCTAssertEqual(enc.latentChannels, 4)
        XCTAssertEqual(enc.downFactor, 2)
        assertClose(enc.encode(try f.tensor("__input__.x"), ws), try f.tensor("__output__.mean"), "vae_encoder")
    }

    /// Up resnets that do not take back every skip are a typed error, not a crash in a pass.
    func testUNetRejectsUnbalancedSkips() throws {
        let f = try Fixture("unet_tiny", in: .module)
        let store = WeightStore(files: [f.file], exclude: ["__input__.", "__output__.", "up_blocks.1.resnets.1.", "up_blocks.1.attentions.1."])
        var config = UNetConfig()
        config.attentionHeadDim = [4]
        config.normNumGroups = 8
        XCTAssertThrowsError(try UNet2DCondition(weights: store, config: config)) { error in
            guard case LDMSegError.invalidConfig(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("has 3 for 4"), message)
        }
    }

    func testUNetRejectsCrossAttentionAndLeftoverTensors() throws {
        let f = try Fixture("unet_tiny", in: .module)
        var config = UNetConfig()
        config.attentionHeadDim = [4]
        config.normNumGroups = 7
        XCTAssertThrowsError(try UNet2DCondition(weights: f.weights(), config: config)) { error in
            guard case LDMSegError.invalidConfig(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("groups"), message)
        }
    }
}
