import CKernels
import Foundation

/// A constant GEMM operand (weights) rounded to bfloat16 and packed once in the bf16 kernel's
/// layout, so `Precision.bf16` products skip the rounding and packing of it on every call:
/// for a conv on a small map that packing costs as much as the multiplies.
public final class BF16Matrix: @unchecked Sendable {
    public enum Side: Sendable { case left, right }
    /// Which operand of a product this packs: `left` is A `[m, k]`, `right` is B `[k, n]`.
    public let side: Side
    /// Rows of A or columns of B, and the shared depth.
    public let outer: Int, depth: Int
    let words: UnsafeMutablePointer<UInt32>

    /// Packs A (`[m, k]`, row stride `lda`) or B (`[k, n]`, or `[n, k]` with `transposed`).
    init(side: Side, _ data: UnsafePointer<Float>, stride: Int, outer: Int, depth: Int, transposed: Bool = false) {
        precondition(RuntimeOptions.bf16Supported, "bf16 packing needs AVX512-BF16")
        self.side = side
        self.outer = outer
        self.depth = depth
        switch side {
        case .left:
            words = .allocate(capacity: segserve_bf16_packed_a_words(outer, depth))
            segserve_bf16_pack_a(data, stride, outer, depth, words)
        case .right:
            words = .allocate(capacity: segserve_bf16_packed_b_words(depth, outer))
            segserve_bf16_pack_b(transposed ? 1 : 0, data, stride, depth, outer, words)
        }
    }

    deinit { words.deallocate() }

    /// Row alignment of a left operand's slices (the kernel's tile height), column alignment
    /// of a right operand's.
    static let leftRows = 12, rightColumns = 32
}
