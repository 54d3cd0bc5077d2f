/// Batches of feature maps, laid out `[C, B, H, W]`: channel-major with the batch inside, so
/// each channel of the whole batch is one row of a matrix product (a 1x1 convolution over a
/// batch is one sgemm with B times the columns) and a batch of one is a `[C, H, W]` map.
extension Tensor {
    /// `(channels, batch, height, width)` of a `[C, H, W]` map (batch 1) or a `[C, B, H, W]` batch.
    public var maps: (c: Int, b: Int, h: Int, w: Int) {
        switch rank {
        case 3: return (shape[0], 1, shape[1], shape[2])
        case 4: return (shape[0], shape[1], shape[2], shape[3])
        default: preconditionFailure("expected a [C, H, W] map or a [C, B, H, W] batch, got \(shape)")
        }
    }

    /// The shape of `b` maps of `c` channels and `h x w` pixels: `[C, H, W]` for one map.
    public static func mapShape(c: Int, b: Int, h: Int, w: Int) -> [Int] { b == 1 ? [c, h, w] : [c, b, h, w] }

    /// `[C, B, H, W]` from B maps of the same `[C, H, W]` shape (the map itself when B is 1).
    public static func batch(_ items: [Tensor]) -> Tensor {
        precondition(!items.isEmpty && items.allSatisfy { $0.rank == 3 && $0.shape == items[0].shape },
                     "batch of \(items.map(\.shape))")
        if items.count == 1 { return items[0] }
        let (c, h, w) = (items[0].shape[0], items[0].shape[1], items[0].shape[2]), plane = h * w, b = items.count
        let out = Tensor(shape: [c, b, h, w])
        for (i, item) in items.enumerated() {
            for ch in 0..<c { (out.data + (ch * b + i) * plane).update(from: item.data + ch * plane, count: plane) }
        }
        return out
    }

    /// Map `i` of a batch, as a `[C, H, W]` copy (the map itself for a `[C, H, W]` tensor).
    public func item(_ i: Int) -> Tensor {
        let (c, b, h, w) = maps, plane = h * w
        precondition(i >= 0 && i < b, "item \(i) of a batch of \(b)")
        if rank == 3 { return self }
        let out = Tensor(shape: [c, h, w])
        for ch in 0..<c { (out.data + ch * plane).update(from: data + (ch * b + i) * plane, count: plane) }
        return out
    }

    /// Every map of a batch as `[C, H, W]` copies.
    public var items: [Tensor] { (0..<maps.b).map(item) }

    /// Channel `ch` of map `i`: `h * w` contiguous floats.
    @inline(__always)
    public func plane(_ ch: Int, _ i: Int) -> UnsafeMutablePointer<Float> {
        let (_, b, h, w) = maps
        return data + (ch * b + i) * h * w
    }
}
