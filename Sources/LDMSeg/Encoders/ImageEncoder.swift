import NNRuntime

/// A frozen image encoder: pixels `[3, H, W]` in its input range -> latent `[C, H/f, W/f]`.
public protocol ImageEncoder: Sendable {
    var latentChannels: Int { get }
    var downFactor: Int { get }
    func encode(_ pixels: Tensor, _ ws: Workspace) -> Tensor
}
