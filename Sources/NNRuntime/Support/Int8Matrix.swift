import CKernels

/// A constant GEMM operand (weights) quantised once to int8 per output channel and packed in the
/// int8 kernel's layout (`Precision.int8`): A `[m, k]` (`left`) or B given as `[n, k]` (`right`,
/// the transposed weights of a linear layer), rows being output channels.
public final class Int8Matrix: @unchecked Sendable {
    public enum Side: Int32, Sendable { case left = 0, right = 1 }
    public let side: Side
    /// Output channels (rows of A, columns of B), and the shared depth.
    public let outer: Int, depth: Int
    let words: UnsafeMutablePointer<UInt32>
    /// Per output channel: max |w| / 127.
    let scales: UnsafeMutablePointer<Float>
    /// Per block of k and output channel: the sum of its int8 values.
    let sums: UnsafeMutablePointer<Int32>

    init(side: Side, _ data: UnsafePointer<Float>, stride: Int, outer: Int, depth: Int) {
        precondition(RuntimeOptions.int8Supported, "int8 packing needs AVX512-VNNI")
        self.side = side
        self.outer = outer
        self.depth = depth
        words = .allocate(capacity: segserve_i8_packed_words(side.rawValue, outer, depth))
        scales = .allocate(capacity: max(outer, 1))
        sums = .allocate(capacity: segserve_i8_packed_sums(side.rawValue, outer, depth))
        segserve_i8_pack(side.rawValue, data, stride, outer, depth, words, scales, sums)
    }

    deinit {
        words.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Row alignment of a left operand's slices (the kernel's tile height), column alignment
    /// of a right operand's.
    static let leftRows = 12, rightColumns = 32
}
