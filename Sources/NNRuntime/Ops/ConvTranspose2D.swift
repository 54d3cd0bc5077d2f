import COpenBLAS

/// Transposed convolution with kernel 2, stride 2 (`torch.nn.ConvTranspose2d(k=2, s=2)`):
/// each input pixel writes its own 2x2 output block, so one sgemm computes every block.
public struct ConvTranspose2D: Sendable {
    public let weight: Tensor  // [Cin, Cout, 2, 2], PyTorch layout
    public let bias: Tensor?   // [Cout]
    private let packed: Tensor // [Cout*4, Cin]
    private let bf16 = BF16Cache()

    public init(weight: Tensor, bias: Tensor?) throws {
        guard weight.rank == 4, weight.shape[2] == 2, weight.shape[3] == 2 else {
            throw NNError.invalidArgument("ConvTranspose2D supports kernel 2 stride 2; weight \(weight.shape)")
        }
        self.weight = weight
        self.bias = bias
        let cin = weight.shape[0], rows = weight.shape[1] * 4
        let p = Tensor(shape: [rows, cin])
        for i in 0..<cin {
            for r in 0..<rows { p.data[r * cin + i] = weight.data[i * rows + r] }
        }
        packed = p
    }

    /// `x` is `[Cin, H, W]`; returns `[Cout, 2H, 2W]`.
    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let cin = weight.shape[0], cout = weight.shape[1]
        precondition(x.rank == 3 && x.shape[0] == cin, "conv-transpose input \(x.shape) for weight \(weight.shape)")
        let h = x.shape[1], w = x.shape[2], n = h * w
        let blocks = ws.buffer(Workspace.Slot.im2col, count: cout * 4 * n)
        // blocks[(co*4 + ky*2 + kx), pixel] = sum_ci W[ci, co, ky, kx] x[ci, pixel]
        GEMM.sgemm(m: cout * 4, n: n, k: cin, a: packed.data, lda: cin, b: x.data, ldb: n, beta: 0, c: blocks, ldc: n, ws, constantA: (bf16, 0))
        let out = Tensor(shape: [cout, 2 * h, 2 * w])
        let ow = 2 * w
        ws.forRange(cout, minPerThread: 16) { range in
            for co in range {
                let b = bias?.data[co] ?? 0
                let dst = out.data + co * 4 * n
                for k in 0..<4 {
                    let ky = k >> 1, kx = k & 1
                    let src = blocks + (co * 4 + k) * n
                    for y in 0..<h {
                        let row = dst + (2 * y + ky) * ow + kx
                        let s = src + y * w
                        for xx in 0..<w { row[2 * xx] = s[xx] + b }
                    }
                }
            }
        }
        return out
    }
}
