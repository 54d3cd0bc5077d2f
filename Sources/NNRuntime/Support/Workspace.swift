/// One worker's scratch memory and runtime options. The buffers grow and are reused across ops
/// and calls, so the hot loop does not allocate im2col and attention buffers on every layer.
public final class Workspace {
    /// Its owner may change them between calls (e.g. a job's precision); never during one.
    public var options: RuntimeOptions
    private var buffers: [UnsafeMutablePointer<Float>?]
    private var capacities: [Int]

    public init(options: RuntimeOptions = RuntimeOptions(), slots: Int = 4) {
        self.options = options
        buffers = Array(repeating: nil, count: slots)
        capacities = Array(repeating: 0, count: slots)
    }

    deinit { for b in buffers { b?.deallocate() } }

    /// A buffer of at least `count` floats in `slot`; contents are undefined.
    public func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        if capacities[slot] < count {
            buffers[slot]?.deallocate()
            buffers[slot] = .allocate(capacity: count)
            capacities[slot] = count
        }
        return buffers[slot]!
    }

    /// Runs `body` over `0..<count` on the options' pool (see `ComputePool.forRange`).
    @inline(__always)
    public func forRange(_ count: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        options.pool.forRange(count, minPerThread: minPerThread, body)
    }

    /// Slot indices, so ops never share one by accident.
    public enum Slot {
        public static let im2col = 0
        public static let attentionScores = 1
        public static let attentionOutput = 2
        public static let winogradProducts = 3
    }
}
