import NNRuntime

/// diffusers `Downsample2D` with a conv: stride 2, padding 1 (UNet) or pad (0,1,0,1) then
/// padding 0 (VAE encoder).
struct Downsample2D: Sendable {
    let conv: Conv2D

    init(_ w: WeightStore, _ p: String, asymmetricPadding: Bool) throws {
        conv = try w.conv(p + ".conv", stride: 2,
                          padding: asymmetricPadding ? Padding(top: 0, left: 0, bottom: 1, right: 1) : .same(1))
    }

    func callAsFunction(_ x: Tensor, _ ws: Workspace) -> Tensor { conv(x, ws) }
}

/// diffusers `Upsample2D`: nearest x2 (or to the skip's size) then conv3x3.
struct Upsample2D: Sendable {
    let conv: Conv2D

    init(_ w: WeightStore, _ p: String) throws { conv = try w.conv(p + ".conv") }

    func callAsFunction(_ x: Tensor, height: Int, width: Int, _ ws: Workspace) -> Tensor {
        conv(Resize.nearest(x, height: height, width: width, ws), ws)
    }
}
