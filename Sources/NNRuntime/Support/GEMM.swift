import CKernels
import COpenBLAS

/// Row-major single-precision GEMM, C = alpha op(A) op(B) + beta C, split across the workspace's
/// pool and run single-threaded per chunk; in bf16 when the workspace asks for it (see
/// `Precision`) and the product is large enough. OpenBLAS's own threads wait for one another by
/// yielding the CPU, which hands it to any runnable thread, request threads included, whatever
/// their priority; the pool's threads spin without yielding.
public enum GEMM {
    /// Products below this many multiply-adds run as one call: splitting costs more.
    static let minSplitMACs = 1 << 20
    /// Chunk edges fall on multiples of this, the widest sgemm micro-kernel tile.
    static let tile = 16
    /// Smallest products the bf16 kernel takes: below these its packing (the rounding of A and
    /// B) and its 12 x 32 tiles cost more than the faster multiplies save. One 32-column tile is
    /// enough: attention's P V products with 40-channel heads (SD's top level) gain 1.15x.
    static let bf16MinRows = 24, bf16MinColumns = 32, bf16MinDepth = 32

    /// OpenBLAS runs on the calling thread only; once per process, before the first product.
    private static let singleThreaded: Void = openblas_set_num_threads(1)

    /// A constant operand (weights): matrix `index` of the `count` in `parameter`'s values, each
    /// `spacing` floats after the last (a Winograd transform holds one per point). In bf16 or int8
    /// it is packed once instead of on every call, all `count` matrices at a time, and its float32
    /// values are read only for that packing or for a float32 product.
    public struct Constant: Sendable {
        public let parameter: Parameter
        public let index: Int, count: Int, spacing: Int

        public init(_ parameter: Parameter, index: Int = 0, of count: Int = 1, spacing: Int = 0) {
            self.parameter = parameter
            self.index = index
            self.count = count
            self.spacing = spacing
        }

        /// The matrix's float32 values, kept by the parameter from now on.
        var floats: UnsafePointer<Float> { UnsafePointer(parameter.floats.data + index * spacing) }

        func bf16(side: BF16Matrix.Side, stride: Int, outer: Int, depth: Int, transposed: Bool = false) -> BF16Matrix {
            parameter.bf16Pack(index, of: count) { values, i in
                BF16Matrix(side: side, values.data + i * spacing, stride: stride, outer: outer, depth: depth, transposed: transposed)
            }
        }

        func int8(side: Int8Matrix.Side, stride: Int, outer: Int, depth: Int) -> Int8Matrix {
            parameter.int8Pack(index, of: count) { values, i in
                Int8Matrix(side: side, values.data + i * spacing, stride: stride, outer: outer, depth: depth)
            }
        }
    }

    /// A GEMM operand: float32 values in memory, or a constant.
    public enum Operand {
        case floats(UnsafePointer<Float>)
        case constant(Constant)

        var constant: Constant? {
            if case let .constant(c) = self { return c }
            return nil
        }

        var floats: UnsafePointer<Float> {
            switch self {
            case let .floats(p): p
            case let .constant(c): c.floats
            }
        }
    }

    /// A product of float32 values in memory.
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace) {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: .floats(a), lda: lda, b: .floats(b), ldb: ldb,
              beta: beta, c: c, ldc: ldc, ws)
    }

    /// In int8, products with a constant A and a plain B, or a plain A and a constant transposed
    /// B, run in int8; the rest as in bf16. A constant A must not be transposed.
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: Operand, lda: Int, b: Operand, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace) {
        _ = singleThreaded
        precondition(!transA || a.constant == nil, "a constant A is packed untransposed")
        let precision = ws.options.effectivePrecision
        let large = m >= bf16MinRows && n >= bf16MinColumns && k >= bf16MinDepth
        if precision == .int8 && !transA && large {
            switch (a, b) {
            case let (.constant(constant), .floats(x)) where !transB:
                return int8(.left, m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldb, beta: beta, c: c, ldc: ldc, ws,
                            pack: constant.int8(side: .left, stride: lda, outer: m, depth: k))
            case let (.floats(x), .constant(constant)) where transB:
                return int8(.right, m: m, n: n, k: k, alpha: alpha, x: x, ldx: lda, beta: beta, c: c, ldc: ldc, ws,
                            pack: constant.int8(side: .right, stride: ldb, outer: n, depth: k))
            default: break
            }
        }
        if !transA && precision != .fp32 && RuntimeOptions.bf16Supported && large {
            return bf16(transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, ws)
        }
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        let (a, b) = (a.floats, b.floats)
        func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        split(m: m, n: n, k: k, rowTile: tile, columnTile: tile, ws) { rows, columns in
            call(rows.count, columns.count, a + (transA ? rows.lowerBound : rows.lowerBound * lda),
                 b + (transB ? columns.lowerBound * ldb : columns.lowerBound), c + rows.lowerBound * ldc + columns.lowerBound)
        }
    }

    /// The bf16 kernel over the pool; chunk edges fall on its tile edges, as packed slices need.
    private static func bf16(transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Operand, lda: Int, b: Operand, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace) {
        let packedA = a.constant?.bf16(side: .left, stride: lda, outer: m, depth: k)
        let packedB = b.constant?.bf16(side: .right, stride: ldb, outer: n, depth: k, transposed: transB)
        precondition(packedA.map { $0.outer == m && $0.depth == k } ?? true, "packed A is not [\(m), \(k)]")
        precondition(packedB.map { $0.outer == n && $0.depth == k } ?? true, "packed B is not [\(k), \(n)]")
        // A packed side's floats are never read (nor decoded).
        let plainA: UnsafePointer<Float>? = packedA == nil ? a.floats : nil
        let plainB: UnsafePointer<Float>? = packedB == nil ? b.floats : nil
        split(m: m, n: n, k: k, rowTile: BF16Matrix.leftRows, columnTile: BF16Matrix.rightColumns, ws) { rows, columns in
            let (i0, j0) = (rows.lowerBound, columns.lowerBound)
            segserve_gemm_bf16(rows.count, columns.count, k, alpha, plainA.map { $0 + i0 * lda }, lda, packedA?.words, m, i0,
                               transB ? 1 : 0, plainB.map { $0 + (transB ? j0 * ldb : j0) }, ldb, packedB?.words, n, j0,
                               beta, c + i0 * ldc + j0, ldc)
        }
    }

    /// The int8 kernel over the pool, `pack` the constant side and `x` the other; chunks split
    /// the constant's channels on its tile edges, or the other side's rows or columns.
    private static func int8(_ side: Int8Matrix.Side, m: Int, n: Int, k: Int, alpha: Float, x: UnsafePointer<Float>, ldx: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, _ ws: Workspace, pack: Int8Matrix) {
        precondition(pack.outer == (side == .left ? m : n) && pack.depth == k, "int8 pack is not the constant of [\(m), \(k)] x [\(k), \(n)]")
        split(m: m, n: n, k: k, rowTile: Int8Matrix.leftRows, columnTile: Int8Matrix.rightColumns, ws) { rows, columns in
            let (i0, j0) = (rows.lowerBound, columns.lowerBound)
            // The plain side's chunk starts at its own offset; the constant's at the kernel's.
            let xChunk = side == .left ? x + j0 : x + i0 * ldx
            segserve_gemm_i8(rows.count, columns.count, k, alpha, side.rawValue, xChunk, ldx, pack.words, pack.scales, pack.sums,
                             pack.outer, side == .left ? i0 : j0, beta, c + i0 * ldc + j0, ldc)
        }
    }

    /// Runs `body` on chunks of C across the pool, splitting its longer side (each chunk then
    /// packs all of the shorter side's operand, the smaller duplicate) at multiples of the tile.
    private static func split(m: Int, n: Int, k: Int, rowTile: Int, columnTile: Int, _ ws: Workspace,
                              _ body: (Range<Int>, Range<Int>) -> Void) {
        guard m * n * k >= minSplitMACs, max(m, n) >= 2 * tile else { return body(0..<m, 0..<n) }
        if n >= m {
            ws.forRange((n + columnTile - 1) / columnTile) { blocks in
                body(0..<m, (blocks.lowerBound * columnTile)..<min(n, blocks.upperBound * columnTile))
            }
        } else {
            ws.forRange((m + rowTile - 1) / rowTile) { blocks in
                body((blocks.lowerBound * rowTile)..<min(m, blocks.upperBound * rowTile), 0..<n)
            }
        }
    }
}
