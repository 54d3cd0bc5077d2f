import Foundation
import XCTest
@testable import NNRuntime
import TestSupport

/// Every op against PyTorch on `Fixtures/ops.safetensors` (tools/reference/make_fixtures.py):
/// relative error = max |ours - torch| / max |torch| <= 1e-4.
final class OpsParityTests: XCTestCase {
    var fixture: Fixture!
    var cases: [String: Any] = [:]
    let ws = Workspace.testing()

    override func setUpWithError() throws {
        fixture = try Fixture("ops", in: .module)
        cases = fixture.metadata("cases")
        XCTAssertFalse(cases.isEmpty, "ops fixture has no cases")
    }

    func params(_ name: String) -> [String: Any] { cases[name] as? [String: Any] ?? [:] }
    func t(_ name: String, _ role: String) throws -> Tensor { try fixture.tensor("\(name).\(role)") }
    func has(_ name: String, _ role: String) -> Bool { fixture.file.entries["\(name).\(role)"] != nil }
    func names(_ prefix: String) -> [String] { cases.keys.filter { $0.hasPrefix(prefix) }.sorted() }

    func testConv2D() throws {
        let all = names("conv2d")
        XCTAssertGreaterThanOrEqual(all.count, 5)
        for name in all {
            let p = params(name)
            let stride = p["stride"] as? Int ?? 1
            let pad = p["padding"] as? [Int] ?? [0, 0, 0, 0]
            let conv = Conv2D(weight: try t(name, "weight"), bias: has(name, "bias") ? try t(name, "bias") : nil,
                              stride: stride, padding: Padding(top: pad[0], left: pad[1], bottom: pad[2], right: pad[3]))
            assertClose(conv(try t(name, "input"), ws), try t(name, "output"), name)
        }
    }

    func testDepthwiseConv2D() throws {
        let all = names("depthwise")
        XCTAssertGreaterThanOrEqual(all.count, 3)
        for name in all {
            let conv = DepthwiseConv2D(weight: try t(name, "weight"), bias: try t(name, "bias"), stride: params(name)["stride"] as? Int ?? 0)
            assertClose(conv(try t(name, "input"), ws), try t(name, "output"), name)
            // The fused activation is the activation of the plain result.
            assertClose(conv(try t(name, "input"), ws, activation: .relu6), try t(name, "output").applying(.relu6, ws), tolerance: 1e-6, name + " relu6")
        }
    }

    func testConvTranspose2D() throws {
        let name = "conv_transpose2d_k2s2"
        let conv = try ConvTranspose2D(weight: try t(name, "weight"), bias: try t(name, "bias"))
        assertClose(conv(try t(name, "input"), ws), try t(name, "output"), name)
    }

    func testLinear() throws {
        let lin = Linear(weight: try t("linear", "weight"), bias: try t("linear", "bias"))
        assertClose(lin(try t("linear", "input"), ws), try t("linear", "output"), "linear")
    }

    func testNorms() throws {
        let gp = params("group_norm")
        let gn = GroupNorm(groups: gp["groups"] as? Int ?? 0, eps: Float(gp["eps"] as? Double ?? 0),
                           weight: try t("group_norm", "weight"), bias: try t("group_norm", "bias"))
        assertClose(gn(try t("group_norm", "input"), ws), try t("group_norm", "output"), "group_norm")
        let ln = LayerNorm(eps: Float(params("layer_norm")["eps"] as? Double ?? 0),
                           weight: try t("layer_norm", "weight"), bias: try t("layer_norm", "bias"))
        assertClose(ln(try t("layer_norm", "input"), ws), try t("layer_norm", "output"), "layer_norm")
        let cl = ChannelLayerNorm(eps: Float(params("layer_norm2d")["eps"] as? Double ?? 0),
                                  weight: try t("layer_norm2d", "weight"), bias: try t("layer_norm2d", "bias"))
        assertClose(cl(try t("layer_norm2d", "input"), ws), try t("layer_norm2d", "output"), "layer_norm2d")
    }

    func testActivations() throws {
        let table: [(String, Activation)] = [("silu", .silu), ("gelu", .gelu), ("relu", .relu), ("relu6", .relu6), ("tanh", .tanh),
                                             ("sigmoid", .sigmoid)]
        for (name, act) in table {
            assertClose(try t(name, "input").applying(act, ws), try t(name, "output"), tolerance: 2e-6, name)
        }
        assertClose(geglu(try t("geglu", "input"), ws), try t("geglu", "output"), "geglu")
        assertClose(softmax(try t("softmax", "input"), ws), try t("softmax", "output"), tolerance: 1e-5, "softmax")
    }

    func testAttention() throws {
        let all = names("attention")
        XCTAssertGreaterThanOrEqual(all.count, 2)
        let headWidths = try all.map { try t($0, "q").shape[1] / (params($0)["heads"] as? Int ?? 1) }
        XCTAssertTrue(headWidths.contains(8) && headWidths.contains(16), "cases run the narrow-head kernels")
        // The portable narrow-head kernel everywhere, the AVX-512 one where the CPU has it.
        for avx512 in RuntimeOptions.avx512Supported ? [false, true] : [false] {
            for name in all {
                let heads = params(name)["heads"] as? Int ?? 1
                let (q, k, v) = (try t(name, "q"), try t(name, "k"), try t(name, "v"))
                let out = Attention.multiHead(q: q, k: k, v: v, heads: heads, AttentionKernelTests.workspace(avx512: avx512))
                assertClose(out, try t(name, "output"), "\(name) avx512 \(avx512)")
            }
        }
    }

    func testResize() throws {
        XCTAssertEqual(names("resize_bicubic_aa").count, 3)
        XCTAssertEqual(names("resize_bilinear_aa").count, 2)
        for name in names("resize") {
            let input = try t(name, "input"), expected = try t(name, "output")
            let (h, w) = (expected.shape[1], expected.shape[2])
            let out = name.contains("nearest") ? Resize.nearest(input, height: h, width: w, ws)
                : name.contains("bicubic_aa") ? Resize.antialiased(input, height: h, width: w, ws)
                : name.contains("bilinear_aa") ? Resize.antialiased(input, height: h, width: w, filter: .bilinear, ws)
                : Resize.bilinear(input, height: h, width: w, ws)
            assertClose(out, expected, tolerance: 1e-6, name)
        }
    }

    /// Bilinear straight from 8-bit RGB bytes gives exactly what the float tensor of the image gives.
    func testBilinearFromBytesMatchesTheTensorPath() {
        var generator = SplitMix64(seed: 3)
        let (w, h) = (97, 61)
        let rgb = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let planes = Tensor(shape: [3, h, w])
        for i in 0..<(w * h) { for c in 0..<3 { planes.data[c * w * h + i] = Float(rgb[i * 3 + c]) / 255 } }
        for (oh, ow) in [(32, 48), (61, 97), (130, 200), (7, 5)] {
            let fromBytes = Resize.bilinear(rgb: rgb, width: w, height: h, toHeight: oh, width: ow, ws)
            let fromTensor = Resize.bilinear(planes, height: oh, width: ow, ws)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: fromBytes.data, count: fromBytes.count)),
                           Array(UnsafeBufferPointer(start: fromTensor.data, count: fromTensor.count)), "\(oh)x\(ow)")
        }
    }

    func testTimestepEmbedding() throws {
        let all = names("timestep_embedding")
        XCTAssertGreaterThanOrEqual(all.count, 2)
        for name in all {
            let p = params(name)
            let ts = try t(name, "t"), expected = try t(name, "output")
            let dim = expected.shape[1]
            for (i, step) in ts.array.enumerated() {
                let e = timestepEmbedding(step, dim: dim, flipSinToCos: p["flip_sin_to_cos"] as? Bool ?? true,
                                          freqShift: Float(p["downscale_freq_shift"] as? Double ?? p["shift"] as? Double ?? 0))
                assertClose(e, expected.slice(i..<(i + 1)).reshaped([dim]), "\(name) t=\(step)")
            }
        }
    }
}
