import CKernels

/// How the runtime runs a forward pass: its threads and kernel choices. A value handed to each
/// worker's `Workspace`, so two workers (or a test and its reference) can differ.
public struct RuntimeOptions: Sendable {
    /// Threads for the runtime's parallel loops.
    public var pool: ComputePool
    /// Eligible 3x3 convs on large maps use Winograd F(2x2, 3x3) instead of im2col.
    public var winograd = true
    /// Eligible narrow 3x3 convs (Cin <= 64) use the AVX-512 Winograd F(4x4, 3x3) kernel
    /// (needs `winograd`; ignored on CPUs without AVX-512).
    public var winograd4x4 = true
    /// Narrow attention heads use the AVX-512 kernel (ignored on CPUs without AVX-512).
    public var avx512Attention = true

    /// Number format of the large matrix products (see `Precision`).
    public var precision = Precision.fp32

    /// Most maps one forward pass takes as a `[C, B, H, W]` batch (an ensemble's runs, or
    /// steps of several jobs sharing a pass, go through the model together up to this many);
    /// 1 runs every map on its own.
    public var maxBatch: Int

    public init(pool: ComputePool = .serial, precision: Precision = .fp32, maxBatch: Int = 4) {
        self.pool = pool
        self.precision = precision
        self.maxBatch = maxBatch
    }

    /// Whether this CPU has the AVX-512 subsets the C kernels use.
    public static let avx512Supported = segserve_has_avx512() != 0

    /// Whether this CPU has AVX512-BF16 dot products, which `Precision.bf16` needs.
    public static let bf16Supported = segserve_has_avx512_bf16() != 0

    /// Whether this CPU has AVX512-VNNI byte dot products, which `Precision.int8` needs.
    public static let int8Supported = segserve_has_avx512_vnni() != 0

    /// The precision products actually run in here: bf16 and int8 only where the CPU has them;
    /// int8 falls back to bf16, then fp32.
    public var effectivePrecision: Precision {
        switch precision {
        case .int8 where Self.int8Supported: return .int8
        case .bf16 where Self.bf16Supported, .int8 where Self.bf16Supported: return .bf16
        default: return .fp32
        }
    }
}

/// The number format of the matrix products inside convolutions, linear layers and attention.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// Single precision throughout, within 1e-4 of PyTorch.
    case fp32
    /// Operands rounded to bfloat16 (8-bit mantissa), products summed in float, on CPUs with
    /// AVX512-BF16; elsewhere fp32. About twice the multiply rate of fp32 at ~0.4% relative
    /// error per product.
    case bf16
    /// Products with weights (convolutions, linear layers) in 8-bit integers on CPUs with
    /// AVX512-VNNI: weights quantised per output channel once, activations per pixel or token
    /// on the fly, four times the multiply rate of fp32 at ~1% relative error per product.
    /// The other products (attention) run as in bf16. Elsewhere bf16, then fp32.
    case int8
}
