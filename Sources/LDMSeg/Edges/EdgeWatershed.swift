import Foundation
import HeapModule

/// Regions of an edge-probability map, as SciPy and scikit-image compute them (the Python twin
/// is `tools/train/edge_prior.py`): Gaussian smoothing (`scipy.ndimage.gaussian_filter`,
/// mirrored borders, truncate 4), h-minima markers (reconstruction by erosion, 8-connected,
/// labelled 8-connected), and a marker-based watershed (4-connected, ties flooded first-in
/// first-out). Maps are row-major `[h * w]`.
public enum EdgeWatershed {
    /// Region labels 1... of every pixel of `edges` (`height x width`, values in [0, 1]); a map
    /// flatter than `depth` is one region.
    public static func regions(edges: [Float], height: Int, width: Int, sigma: Double, depth: Double) -> [Int32] {
        precondition(edges.count == height * width && height > 0 && width > 0, "edge map of \(edges.count) for \(height)x\(width)")
        let smooth = sigma > 0 ? gaussian(edges.map(Double.init), height: height, width: width, sigma: sigma) : edges.map(Double.init)
        let markers = label(hMinima(smooth, height: height, width: width, depth: depth), height: height, width: width)
        guard markers.contains(where: { $0 != 0 }) else { return [Int32](repeating: 1, count: edges.count) }
        return watershed(smooth, markers: markers, height: height, width: width)
    }

    /// Separable Gaussian, borders mirrored (`d c b a | a b c d`), as `scipy.ndimage.gaussian_filter`.
    static func gaussian(_ x: [Double], height: Int, width: Int, sigma: Double) -> [Double] {
        let radius = Int(4 * sigma + 0.5)
        var taps = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = taps.reduce(0, +)
        taps = taps.map { $0 / total }
        func mirror(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
            return i
        }
        var rows = [Double](repeating: 0, count: x.count), out = rows
        for y in 0..<height {        // along axis 0 first, as scipy does
            for k in -radius...radius {
                let sy = mirror(y + k, height), t = taps[k + radius]
                for i in 0..<width { rows[y * width + i] += t * x[sy * width + i] }
            }
        }
        for y in 0..<height {
            for i in 0..<width {
                var sum = 0.0
                for k in -radius...radius { sum += taps[k + radius] * rows[y * width + mirror(i + k, width)] }
                out[y * width + i] = sum
            }
        }
        return out
    }

    /// Pixels of regional minima at least `depth` deep (`skimage.morphology.h_minima`): the
    /// map raised by `depth` and reconstructed by erosion over itself stays `depth` above the
    /// map exactly there.
    static func hMinima(_ g: [Double], height: Int, width: Int, depth: Double) -> [Bool] {
        guard let lo = g.min(), let hi = g.max(), depth <= hi - lo else { return [Bool](repeating: false, count: g.count) }
        // scikit-image's float resolution margin, so the comparison below survives rounding.
        var r = g.map { $0 + depth + 2e-15 * abs($0) }
        // Reconstruction by erosion as a minimax flood: r(p) is the lowest, over paths from any
        // q, of max(r0(q), the map along the path); pixels settle in increasing order.
        var heap = Heap<Entry>()
        heap.reserveCapacity(g.count)
        for i in g.indices { heap.insert(Entry(value: r[i], age: 0, index: Int32(i))) }
        while let e = heap.popMin() {
            let p = Int(e.index)
            guard e.value <= r[p] else { continue }   // a stale entry
            forEachNeighbor(p, height: height, width: width, diagonal: true) { n in
                let c = max(e.value, g[n])
                if c < r[n] {
                    r[n] = c
                    heap.insert(Entry(value: c, age: 0, index: Int32(n)))
                }
            }
        }
        return g.indices.map { r[$0] - g[$0] >= depth }
    }

    /// Connected components (8-connected) of `mask`, labelled 1... in raster order of their first pixel.
    static func label(_ mask: [Bool], height: Int, width: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: mask.count), next: Int32 = 0, stack: [Int] = []
        for start in mask.indices where mask[start] && out[start] == 0 {
            next += 1
            out[start] = next
            stack.append(start)
            while let p = stack.popLast() {
                forEachNeighbor(p, height: height, width: width, diagonal: true) { n in
                    if mask[n] && out[n] == 0 { out[n] = next; stack.append(n) }
                }
            }
        }
        return out
    }

    /// Floods `image` from the labelled `markers` (`skimage.segmentation.watershed`, connectivity
    /// 1): the lowest pixel next to a region joins it, equal values in the order they were reached.
    static func watershed(_ image: [Double], markers: [Int32], height: Int, width: Int) -> [Int32] {
        var out = markers, heap = Heap<Entry>(), age: Int32 = 0
        for i in markers.indices where markers[i] != 0 { heap.insert(Entry(value: image[i], age: 0, index: Int32(i))) }
        while let e = heap.popMin() {
            let p = Int(e.index)
            forEachNeighbor(p, height: height, width: width, diagonal: false) { n in
                guard out[n] == 0 else { return }
                age += 1
                out[n] = out[p]
                heap.insert(Entry(value: image[n], age: age, index: Int32(n)))
            }
        }
        return out
    }

    /// A pixel waiting in a flood: lower values first, then earlier arrivals.
    struct Entry: Comparable {
        let value: Double
        let age: Int32
        let index: Int32
        static func < (a: Entry, b: Entry) -> Bool { a.value != b.value ? a.value < b.value : a.age < b.age }
    }

    @inline(__always)
    static func forEachNeighbor(_ p: Int, height: Int, width: Int, diagonal: Bool, _ body: (Int) -> Void) {
        let y = p / width, x = p - y * width
        for dy in -1...1 {
            let ny = y + dy
            guard ny >= 0 && ny < height else { continue }
            for dx in -1...1 where (dx != 0 || dy != 0) && (diagonal || dx == 0 || dy == 0) {
                let nx = x + dx
                if nx >= 0 && nx < width { body(ny * width + nx) }
            }
        }
    }
}
