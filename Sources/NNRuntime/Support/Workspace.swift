/// Grow-only scratch memory owned by one worker, reused across ops and calls so the hot loop
/// does not allocate im2col and attention buffers on every layer.
public final class Workspace {
    private var buffers: [UnsafeMutablePointer<Float>?]
    private var capacities: [Int]

    public init(slots: Int = 4) {
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

    /// Slot indices, so ops never share one by accident.
    public enum Slot {
        public static let im2col = 0
        public static let attentionScores = 1
        public static let attentionOutput = 2
        public static let winogradProducts = 3
    }
}
