import NNRuntime

/// LDMSeg's bit encoding of slot maps: channel k holds bit k of the slot id, void pixels
/// hold 0.5, and values are mapped to [-1, 1] by 2x - 1.
public enum BitEncoding {
    /// `slots[y * width + x]` in 0...(2^bits - 1), `void[i]` marks unknown pixels.
    public static func encode(slots: [Int32], void: [Bool]? = nil, width: Int, height: Int, bits: Int) -> Tensor {
        let n = width * height
        let out = Tensor(shape: [bits, height, width])
        for i in 0..<n {
            let isVoid = void?[i] ?? (slots[i] == 0)
            let s = slots[i]
            for k in 0..<bits {
                out.data[k * n + i] = isVoid ? 0 : (((s >> Int32(k)) & 1) == 1 ? 1 : -1)
            }
        }
        return out
    }
}
