import CKernels
import COpenBLAS
import Foundation

/// Multi-head scaled dot-product attention with the heads packed in the channel dimension,
/// computed block by block with an online softmax so no more than a bounded score block
/// (`maxScoreFloats`) is ever materialised, whatever the sequence length.
public enum Attention {
    /// Largest score block, in floats (4 MiB).
    public static let maxScoreFloats = 1 << 20

    /// `q` is `[Nq, heads*d]`, `k` and `v` are `[Nk, heads*d]`; returns `[Nq, heads*d]`. With
    /// `batch` > 1 the rows hold that many sequences one after another, each attending to itself.
    public static func multiHead(q: Tensor, k: Tensor, v: Tensor, heads: Int, batch: Int = 1, _ ws: Workspace) -> Tensor {
        if batch > 1 {
            precondition(q.shape[0] % batch == 0 && k.shape[0] % batch == 0, "attention rows \(q.shape), \(k.shape) for batch \(batch)")
            let nq = q.shape[0] / batch, nk = k.shape[0] / batch
            let out = Tensor(shape: q.shape)
            for i in 0..<batch {
                let keys = (i * nk)..<((i + 1) * nk)
                let o = multiHead(q: q.slice((i * nq)..<((i + 1) * nq)), k: k.slice(keys), v: v.slice(keys), heads: heads, ws)
                (out.data + i * o.count).update(from: o.data, count: o.count)
            }
            return out
        }
        let nq = q.shape[0], nk = k.shape[0], width = q.shape[1]
        precondition(width % heads == 0 && k.shape[1] == width && v.shape[1] == width && v.shape[0] == nk,
                     "attention shapes q \(q.shape) k \(k.shape) v \(v.shape) heads \(heads)")
        let d = width / heads
        if d % 8 == 0 && d <= 16 { return narrowHeads(q: q, k: k, v: v, heads: heads, ws) }
        // Where GEMM would run both products in bf16.
        if ws.options.effectivePrecision != .fp32 && RuntimeOptions.bf16Supported
            && nq >= GEMM.bf16MinRows && nk >= GEMM.bf16MinColumns && d >= GEMM.bf16MinDepth {
            return bf16Heads(q: q, k: k, v: v, heads: heads, ws)
        }
        let out = Tensor(shape: [nq, width])
        let bk = min(nk, 4096)
        let bq = max(1, min(nq, maxScoreFloats / bk))
        let scores = ws.buffer(Workspace.Slot.attentionScores, count: bq * bk)
        let stats = ws.buffer(Workspace.Slot.attentionOutput, count: 2 * bq)
        let scale = 1 / Float(d).squareRoot()
        for h in 0..<heads {
            let qh = q.data + h * d, kh = k.data + h * d, vh = v.data + h * d, oh = out.data + h * d
            var q0 = 0
            while q0 < nq {
                let rows = min(bq, nq - q0)
                let rowMax = stats, rowSum = stats + bq
                for r in 0..<rows { rowMax[r] = -.infinity; rowSum[r] = 0 }
                var k0 = 0
                while k0 < nk {
                    let cols = min(bk, nk - k0)
                    // S = scale * Q_blk K_blk^T  [rows, cols]
                    GEMM.sgemm(transB: true, m: rows, n: cols, k: d, alpha: scale, a: qh + q0 * width, lda: width,
                               b: kh + k0 * width, ldb: width, beta: 0, c: scores, ldc: cols, ws)
                    ws.forRange(rows, minPerThread: 8) { range in
                        for r in range {
                            let s = scores + r * cols
                            let m = max(rowMax[r], VectorMath.max(s, count: cols))
                            let blockSum = expShiftedSum(s, count: cols, shift: m)
                            // Rescale what earlier key blocks accumulated to the new row maximum.
                            let correction = k0 == 0 ? 0 : expf(rowMax[r] - m)
                            rowSum[r] = rowSum[r] * correction + blockSum
                            rowMax[r] = m
                            let o = oh + (q0 + r) * width
                            if k0 == 0 {
                                for j in 0..<d { o[j] = 0 }
                            } else {
                                for j in 0..<d { o[j] *= correction }
                            }
                        }
                    }
                    // O_blk += P V_blk  [rows, d]
                    GEMM.sgemm(m: rows, n: d, k: cols, a: scores, lda: cols, b: vh + k0 * width, ldb: width,
                               beta: 1, c: oh + q0 * width, ldc: width, ws)
                    k0 += cols
                }
                for r in 0..<rows {
                    let o = oh + (q0 + r) * width, inv = 1 / rowSum[r]
                    for j in 0..<d { o[j] *= inv }
                }
                q0 += rows
            }
        }
        return out
    }

    /// Both products in bf16, fused per head (`segserve_attention_bf16_rows`): the scores of a
    /// few query rows at a time stay in cache, and the softmax writes its numerators in the
    /// packed bf16 the values' product reads, where two GEMMs would send a score block through
    /// memory four times and pack it again. Keys and values are packed once per head.
    static func bf16Heads(q: Tensor, k: Tensor, v: Tensor, heads: Int, _ ws: Workspace) -> Tensor {
        let nq = q.shape[0], nk = k.shape[0], width = q.shape[1], d = width / heads
        let out = Tensor(shape: [nq, width])
        let scale = 1 / Float(d).squareRoot()
        let keyWords = segserve_attention_bf16_keys_words(nk, d), valueWords = segserve_attention_bf16_values_words(nk, d)
        let packs = UnsafeMutablePointer<UInt32>.allocate(capacity: heads * (keyWords + valueWords))
        defer { packs.deallocate() }
        let keys = { (h: Int) in packs + h * keyWords }, values = { (h: Int) in packs + heads * keyWords + h * valueWords }
        ws.forRange(heads) { range in
            for h in range { segserve_attention_bf16_pack(k.data + h * d, v.data + h * d, width, nk, d, keys(h), values(h)) }
        }
        // Every head's rows in blocks, split across the pool; one call per head within a chunk.
        let block = 8, blocks = (nq + block - 1) / block
        ws.forRange(heads * blocks) { range in
            var item = range.lowerBound
            while item < range.upperBound {
                let h = item / blocks, first = item % blocks, last = min(blocks, first + range.upperBound - item)
                let r0 = first * block, r1 = min(nq, last * block)
                segserve_attention_bf16_rows(q.data + r0 * width + h * d, width, r1 - r0, keys(h), values(h), nk, d, scale,
                                             out.data + r0 * width + h * d, width)
                item += last - first
            }
        }
        return out
    }

    /// Heads of 8 or 16 channels: BLAS packing costs more than the products, so each query
    /// row is scored against keys transposed to `[d, Nk]`, one row at a time (a row of Nk scores
    /// per thread is the only score memory): 16 lanes in C on AVX-512 CPUs, 8 lanes otherwise.
    static func narrowHeads(q: Tensor, k: Tensor, v: Tensor, heads: Int, _ ws: Workspace) -> Tensor {
        typealias V8 = SIMD8<Float>
        let nq = q.shape[0], nk = k.shape[0], width = q.shape[1], d = width / heads
        let out = Tensor(shape: [nq, width])
        let scale = 1 / Float(d).squareRoot()
        let padded = (nk + 15) / 16 * 16
        let avx512 = ws.options.avx512Attention && RuntimeOptions.avx512Supported
        // kt[t, j] = k[j, h*d + t] (and vt for values, AVX-512 only), zero-padded to 16 keys.
        let kt = Tensor.zeros([d, padded]), vt = Tensor.zeros([d, padded])
        for h in 0..<heads {
            for j in 0..<nk { for t in 0..<d { kt.data[t * padded + j] = k.data[j * width + h * d + t] } }
            if avx512 {
                for j in 0..<nk { for t in 0..<d { vt.data[t * padded + j] = v.data[j * width + h * d + t] } }
            }
            ws.forRange(nq, minPerThread: 16) { rows in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: padded)
                defer { scores.deallocate() }
                if avx512 {
                    for i in rows {
                        segserve_attention_row_avx512(q.data + i * width + h * d, kt.data, vt.data, nk, padded, d,
                                                      scale, scores, out.data + i * width + h * d)
                    }
                    return
                }
                for i in rows {
                    let qi = q.data + i * width + h * d
                    var j = 0
                    while j < padded {
                        var acc = V8(repeating: 0)
                        for t in 0..<d {
                            acc += V8(repeating: qi[t] * scale) * UnsafeRawPointer(kt.data + t * padded + j).loadUnaligned(as: V8.self)
                        }
                        UnsafeMutableRawPointer(scores + j).storeBytes(of: acc, as: V8.self)
                        j += 8
                    }
                    let sum = expShiftedSum(scores, count: nk, shift: VectorMath.max(scores, count: nk))
                    let inv = 1 / sum
                    let o = out.data + i * width + h * d
                    var lo = V8(repeating: 0), hi = V8(repeating: 0)
                    for j in 0..<nk {
                        let p = V8(repeating: scores[j])
                        let vj = v.data + j * width + h * d
                        lo += p * UnsafeRawPointer(vj).loadUnaligned(as: V8.self)
                        if d == 16 { hi += p * UnsafeRawPointer(vj + 8).loadUnaligned(as: V8.self) }
                    }
                    UnsafeMutableRawPointer(o).storeBytes(of: lo * inv, as: V8.self)
                    if d == 16 { UnsafeMutableRawPointer(o + 8).storeBytes(of: hi * inv, as: V8.self) }
                }
            }
        }
        return out
    }
}
