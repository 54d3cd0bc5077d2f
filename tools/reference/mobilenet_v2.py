"""MobileNetV2 image encoder for LDMSeg: an ImageNet backbone whose stride-8/16/32 features are
fused FPN-style into the conditioning map at the latent resolution (stride 8).

The backbone's parameter names are torchvision's `mobilenet_v2().features` (so its ImageNet
checkpoint loads as it is); the classifier's last 1x1 layer (`features.18`) is not used.
`fold_batchnorm` gives the state dict segserve loads (`Sources/LDMSeg/Encoders/
MobileNetV2Encoder.swift`): each BatchNorm folded into the conv before it, plus the ImageNet
normalisation as `normalize.mean` / `normalize.std`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

# (expansion t, output channels c, blocks n, first stride s) of each stage, from the paper.
STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
# The feature indices whose outputs are the stride-8, -16 and -32 maps.
TAPS = (6, 13, 17)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def divisible(value, divisor=8):
    """Channels rounded to a multiple of 8, never below 90% of `value` (the torchvision rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(n_in, n_out, kernel, stride=1, groups=1, relu6=True):
    layers = [nn.Conv2d(n_in, n_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(n_out)]
    return nn.Sequential(*layers, nn.ReLU6()) if relu6 else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion (unless t = 1), depthwise 3x3, linear 1x1 projection; + input when shapes match."""

    def __init__(self, n_in, n_out, stride, t):
        super().__init__()
        hidden = n_in * t
        layers = [] if t == 1 else [conv_bn(n_in, hidden, 1)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, n_out, 1, bias=False), nn.BatchNorm2d(n_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and n_in == n_out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """RGB in [0, 1] `[B, 3, H, W]` (H, W multiples of 32) -> latent `[B, latent, H/8, W/8]`."""

    def __init__(self, latent=32, fuse=64, width_mult=1.0):
        super().__init__()
        channels = divisible(32 * width_mult)
        features = [conv_bn(3, channels, 3, stride=2)]
        self.tap_channels = []
        for t, c, n, s in STAGES:
            out = divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
            if len(features) - 1 in TAPS:
                self.tap_channels.append(channels)
        self.features = nn.Sequential(*features)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.fuse = nn.ModuleDict({name: nn.Conv2d(c, fuse, 1) for name, c in zip(("s8", "s16", "s32"), self.tap_channels)})
        self.fuse["out"] = nn.Conv2d(fuse, latent, 3, padding=1)

    def forward(self, x):
        return self.head(self.taps(x))

    def taps(self, x):
        """The backbone's stride-8, -16 and -32 maps."""
        h = (x - self.mean) / self.std
        taps = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in TAPS:
                taps.append(h)
        return taps

    def head(self, taps):
        """The fused latent from the three backbone maps."""
        size = taps[0].shape[2:]
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=False)
        p = self.fuse["s8"](taps[0]) + up(self.fuse["s16"](taps[1])) + up(self.fuse["s32"](taps[2]))
        return self.fuse["out"](F.relu(p))

    def load_torchvision(self, state_dict):
        """Loads torchvision's ImageNet `mobilenet_v2` weights into the backbone (classifier dropped)."""
        backbone = {k[len("features."):]: v for k, v in state_dict.items()
                    if k.startswith("features.") and not k.startswith("features.18.")}
        self.features.load_state_dict(backbone)


@torch.no_grad()
def from_folded(state):
    """The encoder of a folded state dict (as exported): each BatchNorm set to the identity
    plus the folded bias, so it computes what segserve computes. Widths come from the shapes."""
    encoder = MobileNetV2Encoder(latent=state["fuse.out.weight"].shape[0], fuse=state["fuse.s8.weight"].shape[0],
                                 width_mult=state["features.0.0.weight"].shape[0] / 32).eval()
    target = encoder.state_dict()
    for key, value in state.items():
        if key.startswith("normalize."):
            continue
        if key.startswith("features.") and key.endswith(".bias"):
            conv = key[:-len(".bias")]
            norm = conv[:conv.rfind(".") + 1] + str(int(conv[conv.rfind(".") + 1:]) + 1)  # the BatchNorm after it
            target[norm + ".bias"] = value
            target[norm + ".weight"] = torch.ones_like(value)
            target[norm + ".running_mean"] = torch.zeros_like(value)
            target[norm + ".running_var"] = torch.full_like(value, 1 - 1e-5)
        else:
            target[key] = value
    encoder.load_state_dict(target)
    return encoder


@torch.no_grad()
def fold_batchnorm(encoder):
    """The encoder's state dict with every BatchNorm (eval statistics) folded into its conv."""
    out = {}
    for name, module in encoder.features.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                prefix = f"features.{name}.{conv_name}" if name else f"features.{conv_name}"
                out[prefix + ".weight"] = conv.weight * scale.view(-1, 1, 1, 1)
                out[prefix + ".bias"] = bn.bias - bn.running_mean * scale
    for key, value in encoder.fuse.state_dict().items():
        out["fuse." + key] = value
    out["normalize.mean"] = encoder.mean.view(3)
    out["normalize.std"] = encoder.std.view(3)
    return {k: v.detach().float().contiguous() for k, v in out.items()}
