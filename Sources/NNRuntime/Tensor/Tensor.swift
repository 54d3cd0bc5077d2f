/// A dense, row-major float32 tensor that owns its storage.
///
/// Tensors are reference types: ops return new tensors and never alias their inputs unless a
/// function says so (`reshaped`). Maps are `[C, H, W]`, batches of maps `[C, B, H, W]` (see
/// `Tensor+Batch`), token sequences `[N, C]`.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    private let owner: Tensor?

    /// An uninitialised tensor of the given shape.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = .allocate(capacity: max(count, 1))
        self.owner = nil
    }

    /// A view with another shape over the same storage (same element count).
    private init(view base: Tensor, shape: [Int]) {
        self.shape = shape
        self.count = base.count
        self.data = base.data
        self.owner = base.owner ?? base
    }

    deinit {
        if owner == nil { data.deallocate() }
    }

    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public var rank: Int { shape.count }
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    /// The same storage under another shape; the element count must match.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(view: self, shape: newShape)
    }

    /// A deep copy.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
