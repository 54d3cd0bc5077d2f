import COpenBLAS

/// Fully connected layer, `torch.nn.Linear`: y = x W^T + b over the last dimension.
public struct Linear: Sendable {
    public let weight: Tensor  // [out, in]
    public let bias: Tensor?   // [out]

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "linear weight must be rank 2, got \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// `x` is `[N, in]` (or `[in]`); returns `[N, out]` (or `[out]`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures, "linear input \(x.shape) for weight \(weight.shape)")
        let rows = x.count / inFeatures
        var shape = x.shape
        shape[shape.count - 1] = outFeatures
        let out = Tensor(shape: shape)
        apply(x.data, rows: rows, lda: inFeatures, into: out.data, ldc: outFeatures)
        return out
    }

    /// Raw form: `rows` input rows with stride `lda`, written with stride `ldc`.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, lda: Int, into y: UnsafeMutablePointer<Float>, ldc: Int) {
        let o = outFeatures
        if let bias {
            // Seed with the bias so sgemm accumulates onto it (beta = 1).
            for r in 0..<rows { (y + r * ldc).update(from: bias.data, count: o) }
        }
        let beta: Float = bias != nil ? 1 : 0
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(o), Int32(inFeatures),
                    1, x, Int32(lda), weight.data, Int32(inFeatures), beta, y, Int32(ldc))
    }
}
