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

    public init(pool: ComputePool = .serial) {
        self.pool = pool
    }

    /// Whether this CPU has the AVX-512 subsets the C kernels use.
    public static let avx512Supported = segserve_has_avx512() != 0
}
