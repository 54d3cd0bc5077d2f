import COpenBLAS

/// Transposed convolution with kernel 2, stride 2 (`torch.nn.ConvTranspose2d(k=2, s=2)`):
/// each input pixel writes its own 2x2 output block, so one sgemm computes every block.
public struct ConvTranspose2D: Sendable {
    public let weight: Tensor  // [Cin, Cout, 2, 2], PyTorch layout
    public let bias: Tensor?   // [Cout]
    private let packed: Parameter  // [Cout*4, Cin]

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
        packed = Parameter(p)
    }

    /// `x` is `[Cin, H, W]` (or a `[Cin, B, H, W]` batch); returns `[Cout, 2H, 2W]` (`[Cout, B, 2H, 2W]`).
    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        let cin = weight.shape[0], cout = weight.shape[1]
        let (c, batch, h, w) = x.maps, n = h * w, columns = batch * n
        precondition(c == cin, "conv-transpose input \(x.shape) for weight \(weight.shape)")
        let blocks = ws.buffer(Workspace.Slot.im2col, count: cout * 4 * columns)
        // blocks[(co*4 + ky*2 + kx), pixel] = sum_ci W[ci, co, ky, kx] x[ci, pixel], every map's pixels in a row
        GEMM.sgemm(m: cout * 4, n: columns, k: cin, a: .constant(.init(packed)), lda: cin, b: .floats(x.data), ldb: columns, beta: 0,
                   c: blocks, ldc: columns, ws)
        let out = Tensor(shape: Tensor.mapShape(c: cout, b: batch, h: 2 * h, w: 2 * w))
        let ow = 2 * w
        ws.forRange(cout * batch, minPerThread: 16) { range in
            for unit in range {
                let (co, i) = unit.quotientAndRemainder(dividingBy: batch)
                let b = bias?.data[co] ?? 0
                let dst = out.plane(co, i)
                for k in 0..<4 {
                    let ky = k >> 1, kx = k & 1
                    let src = blocks + (co * 4 + k) * columns + i * n
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
