import NNRuntime

/// A frozen image encoder: pixels `[3, H, W]` in its input range -> latent `[C, H/f, W/f]`.
public protocol ImageEncoder: Sendable {
    var latentChannels: Int { get }
    var downFactor: Int { get }
    func encode(_ pixels: Tensor, _ ws: Workspace) -> Tensor
    /// A `[3, B, H, W]` batch -> `[C, B, H/f, W/f]`.
    func encode(batch pixels: Tensor, _ ws: Workspace) -> Tensor
}

extension ImageEncoder {
    /// Map by map, for encoders whose ops take one map at a time.
    public func encode(batch pixels: Tensor, _ ws: Workspace) -> Tensor {
        Tensor.batch(pixels.items.map { encode($0, ws) })
    }
}
