import COpenBLAS
import Foundation

/// 3x3 stride-1 convolution with padding 1 by Winograd F(2x2, 3x3): each 2x2 output tile
/// costs 16 multiplies per channel pair instead of 36, so the 16 batched sgemms do 2.25x
/// fewer FLOPs than im2col. Tiles are processed in bands of rows to bound scratch memory.
enum Winograd3x3 {
    /// Scratch budget per transformed band, in floats (32 MiB): fewer, larger sgemms measured faster.
    static let bandFloats = 1 << 23

    /// Maps with fewer output pixels than this use im2col: the per-call weight transform
    /// would cost more than the multiplies it saves.
    static let minPixels = 1024

    /// G g G^T of every 3x3 kernel, `[16, Cout, Cin]`.
    static func transformWeights(_ weight: Tensor) -> Tensor {
        let cout = weight.shape[0], cin = weight.shape[1]
        let plane = cout * cin
        let transformed = Tensor(shape: [16, cout, cin]), u = transformed.data
        for o in 0..<cout {
            for i in 0..<cin {
                let g = weight.data + (o * cin + i) * 9
                let dst = u + o * cin + i
                for r in 0..<4 {
                    // Row r of G g (4x3), then times G^T.
                    let (a, b, c): (Float, Float, Float)
                    switch r {
                    case 0: (a, b, c) = (g[0], g[1], g[2])
                    case 1: (a, b, c) = (0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8]))
                    case 2: (a, b, c) = (0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8]))
                    default: (a, b, c) = (g[6], g[7], g[8])
                    }
                    dst[(r * 4 + 0) * plane] = a
                    dst[(r * 4 + 1) * plane] = 0.5 * (a + b + c)
                    dst[(r * 4 + 2) * plane] = 0.5 * (a - b + c)
                    dst[(r * 4 + 3) * plane] = c
                }
            }
        }
        return transformed
    }

    /// `u` holds the transformed weights of `[Cout, Cin, 3, 3]` kernels (`transformWeights`).
    /// `x` may be a `[Cin, B, H, W]` batch: tile rows then run on through its maps, so a band
    /// (and each of its 16 sgemms) spans several maps when they are small.
    static func conv(_ x: Tensor, u: Parameter, bias: Tensor?, activation: Activation, _ ws: Workspace) -> Tensor {
        let cout = u.shape[1], cin = u.shape[2]
        let (_, batch, h, w) = x.maps
        let out = Tensor(shape: Tensor.mapShape(c: cout, b: batch, h: h, w: w))
        let th = (h + 1) / 2 * batch, tw = (w + 1) / 2
        let bandRows = max(1, min(th, Self.bandFloats / (16 * max(cin, cout) * tw)))
        let vBuf = ws.buffer(Workspace.Slot.im2col, count: 16 * cin * bandRows * tw)
        let mBuf = ws.buffer(Workspace.Slot.winogradProducts, count: 16 * cout * bandRows * tw)
        var ty0 = 0
        while ty0 < th {
            let rows = min(bandRows, th - ty0), tiles = rows * tw
            inputTransform(x, cin: cin, h: h, w: w, tileRows: ty0..<(ty0 + rows), tw: tw, into: vBuf, ws)
            for k in 0..<16 {
                GEMM.sgemm(m: cout, n: tiles, k: cin, a: .constant(.init(u, index: k, of: 16, spacing: cout * cin)), lda: cin,
                           b: .floats(vBuf + k * cin * tiles), ldb: tiles, beta: 0, c: mBuf + k * cout * tiles, ldc: tiles, ws)
            }
            outputTransform(mBuf, cout: cout, tiles: tiles, tileRows: ty0..<(ty0 + rows), tw: tw, bias: bias,
                            activation: activation, into: out, ws)
            ty0 += rows
        }
        return out
    }

    /// V[k, c, t] = (B^T d B)[k] for the 4x4 patch d of tile t (zero outside the image).
    /// The column transform runs along each input row, the row transform over whole tile rows,
    /// so every write is contiguous. `tileRows` count on through the batch's maps.
    private static func inputTransform(_ x: Tensor, cin: Int, h: Int, w: Int, tileRows: Range<Int>, tw: Int,
                                into v: UnsafeMutablePointer<Float>, _ ws: Workspace) {
        let tiles = tileRows.count * tw, mapRows = (h + 1) / 2
        let stride = cin * tiles
        ws.forRange(cin, minPerThread: 4) { channels in
            // cols[r][q][tx]: column combination q of input row r for every tile of the row.
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: 16 * tw)
            defer { cols.deallocate() }
            for c in channels {
                for vty in tileRows {
                    let plane = x.plane(c, vty / mapRows), ty = vty % mapRows
                    for r in 0..<4 {
                        let yy = 2 * ty - 1 + r
                        let c0 = cols + (r * 4) * tw, c1 = c0 + tw, c2 = c1 + tw, c3 = c2 + tw
                        guard yy >= 0 && yy < h else {
                            c0.update(repeating: 0, count: 4 * tw)
                            continue
                        }
                        let row = plane + yy * w
                        for tx in 0..<tw {
                            let x0 = 2 * tx - 1
                            let a0 = x0 >= 0 ? row[x0] : 0
                            let a1 = row[x0 + 1]
                            let a2 = x0 + 2 < w ? row[x0 + 2] : 0
                            let a3 = x0 + 3 < w ? row[x0 + 3] : 0
                            c0[tx] = a0 - a2; c1[tx] = a1 + a2; c2[tx] = a2 - a1; c3[tx] = a1 - a3
                        }
                    }
                    let dst = v + c * tiles + (vty - tileRows.lowerBound) * tw
                    for q in 0..<4 {
                        let r0 = cols + q * tw, r1 = r0 + 4 * tw, r2 = r1 + 4 * tw, r3 = r2 + 4 * tw
                        let v0 = dst + q * stride, v1 = dst + (4 + q) * stride
                        let v2 = dst + (8 + q) * stride, v3 = dst + (12 + q) * stride
                        for tx in 0..<tw {
                            v0[tx] = r0[tx] - r2[tx]; v1[tx] = r1[tx] + r2[tx]
                            v2[tx] = r2[tx] - r1[tx]; v3[tx] = r1[tx] - r3[tx]
                        }
                    }
                }
            }
        }
    }

    /// out tile = A^T M A (+ bias), clipped at the image border.
    private static func outputTransform(_ m: UnsafeMutablePointer<Float>, cout: Int, tiles: Int, tileRows: Range<Int>, tw: Int,
                                        bias: Tensor?, activation: Activation, into out: Tensor, _ ws: Workspace) {
        let (_, _, h, w) = out.maps, mapRows = (h + 1) / 2
        let stride = cout * tiles
        ws.forRange(cout, minPerThread: 4) { channels in
            for o in channels {
                let b = bias?.data[o] ?? 0
                for vty in tileRows {
                    let plane = out.plane(o, vty / mapRows), ty = vty % mapRows
                    let base = m + o * tiles + (vty - tileRows.lowerBound) * tw
                    let oy = 2 * ty
                    let top = plane + oy * w, bottom = oy + 1 < h ? plane + (oy + 1) * w : nil
                    for tx in 0..<tw {
                        @inline(__always) func e(_ k: Int) -> Float { base[k * stride + tx] }
                        // A^T M: rows 0 and 1, per column q
                        let t00 = e(0) + e(4) + e(8), t01 = e(1) + e(5) + e(9)
                        let t02 = e(2) + e(6) + e(10), t03 = e(3) + e(7) + e(11)
                        let t10 = e(4) - e(8) - e(12), t11 = e(5) - e(9) - e(13)
                        let t12 = e(6) - e(10) - e(14), t13 = e(7) - e(11) - e(15)
                        let ox = 2 * tx
                        top[ox] = t00 + t01 + t02 + b
                        if ox + 1 < w { top[ox + 1] = t01 - t02 - t03 + b }
                        if let bottom {
                            bottom[ox] = t10 + t11 + t12 + b
                            if ox + 1 < w { bottom[ox + 1] = t11 - t12 - t13 + b }
                        }
                    }
                    activation.applySerial(top, count: w)
                    if let bottom { activation.applySerial(bottom, count: w) }
                }
            }
        }
    }
}
