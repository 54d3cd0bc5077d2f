import Synchronization

/// A layer's constant tensor (its weights). Float32 products decode it the first time they need
/// it and keep it; bf16 and int8 products pack it once from a decode they drop, so a model run
/// only in those precisions holds its packs and never its float32 weights, and weights read from
/// a model file stay in that file's mapping until a product asks for them.
public final class Parameter: Sendable {
    public let shape: [Int]
    /// The float32 values: a copy of memory already held, or a fresh decode of a file or another parameter.
    private let decode: @Sendable () -> Tensor
    private let kept: Mutex<Tensor?>
    private let bf16Packs = Mutex<[Int: BF16Matrix]>([:])
    private let int8Packs = Mutex<[Int: Int8Matrix]>([:])

    /// Values already in memory, held for good.
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        kept = Mutex(tensor)
        decode = { tensor }
    }

    /// Values decoded on demand by `decode`, which must give `shape`.
    public init(shape: [Int], decode: @escaping @Sendable () -> Tensor) {
        self.shape = shape
        kept = Mutex(nil)
        self.decode = decode
    }

    /// A parameter computed from this one (a Winograd transform of a kernel) when first needed.
    public func derived(shape: [Int], _ transform: @escaping @Sendable (Tensor) -> Tensor) -> Parameter {
        Parameter(shape: shape) { [self] in transient(transform) }
    }

    public var rank: Int { shape.count }

    /// The float32 values, decoded on first use and kept.
    public var floats: Tensor {
        kept.withLock { kept in
            if let kept { return kept }
            let t = decode()
            precondition(t.shape == shape, "parameter decoded as \(t.shape), expected \(shape)")
            kept = t
            return t
        }
    }

    /// Whether the float32 values are held (decoded and kept, or given in memory).
    public var isResident: Bool { kept.withLock { $0 != nil } }

    /// `body` on the float32 values: the kept ones, or a decode dropped afterwards.
    public func transient<R>(_ body: (Tensor) -> R) -> R {
        body(kept.withLock { $0 } ?? decode())
    }

    /// Pack `index` of `count` made from the values by `make(values, i)`; all `count` are made
    /// from one decode the first time any is asked for.
    func bf16Pack(_ index: Int, of count: Int, _ make: (Tensor, Int) -> BF16Matrix) -> BF16Matrix {
        pack(bf16Packs, index, count, make)
    }

    /// As `bf16Pack`, for int8 packs.
    func int8Pack(_ index: Int, of count: Int, _ make: (Tensor, Int) -> Int8Matrix) -> Int8Matrix {
        pack(int8Packs, index, count, make)
    }

    private func pack<T: Sendable>(_ packs: borrowing Mutex<[Int: T]>, _ index: Int, _ count: Int, _ make: (Tensor, Int) -> T) -> T {
        packs.withLock { packs in
            if let hit = packs[index] { return hit }
            let made = transient { values in (0..<count).map { i in packs[i] ?? make(values, i) } }
            for (i, pack) in made.enumerated() { packs[i] = pack }
            return made[index]
        }
    }
}
