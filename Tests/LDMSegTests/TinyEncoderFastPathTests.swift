import Foundation
import XCTest
@testable import LDMSeg
@testable import NNRuntime
import TestSupport

/// The TAESD encoder at its real width (64 channels) runs its 3x3 convs through the AVX-512
/// Winograd F(4x4, 3x3) kernel with the block's residual add and ReLU fused; the golden
/// fixture is too narrow to reach that path, so this checks it against the all-im2col path
/// (verified against PyTorch op by op) on random weights.
final class TinyEncoderFastPathTests: XCTestCase {
    func testFusedWinogradMatchesIm2col() throws {
        try XCTSkipUnless(RuntimeOptions.avx512Supported, "CPU lacks AVX-512 (or SEGSERVE_NO_AVX512 is set)")
        var noise = GaussianNoise(seed: 21)
        var tensors: [(String, Tensor)] = []
        func add(_ name: String, _ shape: [Int], scale: Float) {
            let t = noise.tensor(shape)
            for i in 0..<t.count { t[i] *= scale }
            tensors.append((name, t))
        }
        let width = 64, latent = 8
        for i in 0..<15 {
            switch i {
            case 0: add("0.weight", [width, 3, 3, 3], scale: 0.3); add("0.bias", [width], scale: 0.1)
            case 2, 6, 10: add("\(i).weight", [width, width, 3, 3], scale: 0.05)
            case 14: add("14.weight", [latent, width, 3, 3], scale: 0.05); add("14.bias", [latent], scale: 0.1)
            default:
                for c in [0, 2, 4] {
                    add("\(i).conv.\(c).weight", [width, width, 3, 3], scale: 0.05)
                    add("\(i).conv.\(c).bias", [width], scale: 0.1)
                }
                if i >= 11 {
                    add("\(i).pool.0.weight", [4 * width, width, 1, 1], scale: 0.1)
                    tensors.append(("\(i).pool.1.weight", Tensor(shape: [4 * width], repeating: 1)))
                    tensors.append(("\(i).pool.1.bias", Tensor.zeros([4 * width])))
                    add("\(i).pool.3.weight", [width, 4 * width, 1, 1], scale: 0.05)
                }
            }
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("taesd-\(UUID().uuidString).safetensors")
        try writeSafeTensors(tensors, to: url)
        defer { try? FileManager.default.removeItem(at: url) }

        let enc = try TinyEncoder(weights: WeightStore(path: url.path))
        let x = noise.tensor([3, 72, 100])                      // [3, H, W]: 4x4 tiles do not divide it
        for i in 0..<x.count { x[i] = 0.5 + 0.25 * x[i] }
        let fast = enc.encode(x, .testing())                     // [8, 9, 13]
        let reference = enc.encode(x, .testing { $0.winograd = false })
        assertClose(fast, reference, tolerance: 1e-5, "TAESD encoder, fused F(4x4, 3x3) vs im2col")
    }

    /// A minimal F32 safetensors file: JSON header, then the tensors back to back.
    private func writeSafeTensors(_ tensors: [(String, Tensor)], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, t) in tensors {
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, t) in tensors { data.append(UnsafeBufferPointer(start: t.data, count: t.count)) }
        try data.write(to: url)
    }
}
