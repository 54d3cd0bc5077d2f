/// Fully connected layer, `torch.nn.Linear`: y = x W^T + b over the last dimension.
public struct Linear: Sendable {
    public let weight: Parameter  // [out, in]
    public let bias: Tensor?      // [out]

    public init(weight: Parameter, bias: Tensor?) {
        precondition(weight.rank == 2, "linear weight must be rank 2, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    public init(weight: Tensor, bias: Tensor?) { self.init(weight: Parameter(weight), bias: bias) }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// `x` is `[N, in]` (or `[in]`); returns `[N, out]` (or `[out]`).
    public func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor {
        precondition(x.shape.last == inFeatures, "linear input \(x.shape) for weight \(weight.shape)")
        let rows = x.count / inFeatures
        var shape = x.shape
        shape[shape.count - 1] = outFeatures
        let out = Tensor(shape: shape)
        apply(x.data, rows: rows, lda: inFeatures, into: out.data, ldc: outFeatures, ws)
        return out
    }

    /// Raw form: `rows` input rows with stride `lda`, written with stride `ldc`.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, lda: Int, into y: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace) {
        let o = outFeatures
        if let bias {
            // Seed with the bias so sgemm accumulates onto it (beta = 1).
            for r in 0..<rows { (y + r * ldc).update(from: bias.data, count: o) }
        }
        let beta: Float = bias != nil ? 1 : 0
        GEMM.sgemm(transB: true, m: rows, n: o, k: inFeatures, a: .floats(x), lda: lda, b: .constant(.init(weight)), ldb: inFeatures,
                   beta: beta, c: y, ldc: ldc, ws)
    }
}
