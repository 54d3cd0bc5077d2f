/// Shape-level and elementwise helpers.
extension Tensor {
    /// Concatenation along dimension 0 (channels of `[C, H, W]` maps).
    public static func concat(_ parts: [Tensor]) -> Tensor {
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "concat shapes \(parts.map(\.shape))")
        let out = Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + tail)
        var offset = 0
        for p in parts {
            (out.data + offset).update(from: p.data, count: p.count)
            offset += p.count
        }
        return out
    }

    /// Rows `range` of dimension 0 as a copy.
    public func slice(_ range: Range<Int>) -> Tensor {
        let inner = count / shape[0]
        let out = Tensor(shape: [range.count] + shape.dropFirst())
        out.data.update(from: data + range.lowerBound * inner, count: range.count * inner)
        return out
    }

    /// Transpose of a rank-2 tensor (`[C, N]` maps <-> `[N, C]` tokens).
    public func transposed(_ ws: Workspace) -> Tensor {
        precondition(rank == 2, "transposed() needs rank 2, got \(shape)")
        let r = shape[0], c = shape[1]
        let out = Tensor(shape: [c, r])
        let tile = 32
        ws.forRange((r + tile - 1) / tile, minPerThread: 4) { range in
            for bi in range {
                let i0 = bi * tile, i1 = min(r, i0 + tile)
                var j0 = 0
                while j0 < c {
                    let j1 = min(c, j0 + tile)
                    for i in i0..<i1 { for j in j0..<j1 { out.data[j * r + i] = data[i * c + j] } }
                    j0 = j1
                }
            }
        }
        return out
    }

    /// `self += other` elementwise, in place.
    public func add(_ other: Tensor, _ ws: Workspace) {
        precondition(other.count == count, "add: \(shape) vs \(other.shape)")
        let a = data, b = other.data
        ws.forRange(count, minPerThread: 1 << 16) { r in
            for i in r { a[i] += b[i] }
        }
    }

    /// Adds `bias[c]` to every value of channel `c` of a `[C, ...]` tensor, in place; for a
    /// `[C, B, H, W]` batch `bias` may also be `[B, C]`, one bias per map.
    public func addChannelBias(_ bias: Tensor) {
        let c = shape[0], plane = count / c
        if rank == 4 && bias.rank == 2 {
            let (_, b, h, w) = maps
            precondition(bias.shape == [b, c], "channel bias \(bias.shape) for \(shape)")
            for ch in 0..<c {
                for i in 0..<b {
                    let p = self.plane(ch, i), v = bias.data[i * c + ch]
                    for j in 0..<h * w { p[j] += v }
                }
            }
            return
        }
        precondition(bias.count == c, "channel bias \(bias.shape) for \(shape)")
        for ch in 0..<c {
            let p = data + ch * plane, b = bias.data[ch]
            for i in 0..<plane { p[i] += b }
        }
    }

    /// `self * s`, as a new tensor.
    public func scaled(by s: Float) -> Tensor {
        let out = Tensor(shape: shape)
        for i in 0..<count { out.data[i] = data[i] * s }
        return out
    }
}

extension Tensor {
    /// The top-left `height x width` window of a `[C, H, W]` map, as a copy.
    public func cropped(height h: Int, width w: Int) -> Tensor {
        let c = shape[0], ih = shape[1], iw = shape[2]
        precondition(h <= ih && w <= iw, "crop \(h)x\(w) from \(shape)")
        if h == ih && w == iw { return self }
        let out = Tensor(shape: [c, h, w])
        for ch in 0..<c {
            for y in 0..<h { (out.data + (ch * h + y) * w).update(from: data + (ch * ih + y) * iw, count: w) }
        }
        return out
    }
}
