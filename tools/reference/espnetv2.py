"""ESPNetv2 semantic segmentation network (Mehta, Rastegari, Shapiro, Hajishirzi, CVPR 2019) in
PyTorch, written from a reading of sacmehta/EdgeNets (MIT licence): `model/segmentation/
espnetv2.py`, `model/classification/espnetv2.py` (+ `espnetv2_config.py`), `nn_layers/eesp.py`,
`nn_layers/espnet_utils.py`, `nn_layers/efficient_pyramid_pool.py`, `nn_layers/efficient_pt.py`,
`nn_layers/cnn_utils.py`. Own code; parameter names follow EdgeNets so its checkpoints load as
they are (`espnetv2_s_2.0_pascal_384x384.pth`: 526 tensors, strict).

Encoder (EESPNet, width s = 2.0: 32, 128, 256, 512 channels at strides 2, 4, 8, 16; level 5 and
the classifier are dropped): a 3x3/2 conv, then strided down-samplers (avg pool || strided EESP,
concatenated, plus a projection of the input image average-pooled to the same size), with 3 and 7
EESP blocks at strides 8 and 16. An EESP block is a grouped 1x1 reduction, 4 depthwise 3x3
branches with dilations (1, 2, 3, 4) -- (1, 1, 2, 3) at stride 16 -- summed hierarchically,
concatenated, BN + PReLU, a grouped 1x1 expansion, + input, PReLU.
Decoder: 4 efficient pyramid pools (5 scales 2.0 .. 0.1 of a 10-channel projection) with 2x
bilinear upsampling (align_corners=True) and, between them, encoder skips at strides 8, 4, 2
gated by a sigmoid of their global average (EfficientPWConv). Output: 21 logits at input size.

Pre-processing, as EdgeNets' Pascal test script (`test_segmentation.py --dataset pascal
--im-size 384 384`, the same as the val loader's `Resize` + `Normalize`): PIL RGB, squash resize
to 384x384 (aspect ratio not kept) with `Image.BILINEAR`, `to_tensor` (/255), ImageNet
normalisation mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), RGB order. EdgeNets takes
the argmax at 384x384 and resizes the label map to the image with `Image.NEAREST`; `predict`
instead resizes the softmax probabilities bilinearly (half-pixel centres) to the image size.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# EdgeNets' Pascal VOC checkpoint at s = 2.0, trained at 384 x 384.
CHECKPOINT = "espnetv2_s_2.0_pascal_384x384.pth"
# Encoder widths for s = 2.0 (levels 1..4; EdgeNets' `sc_ch_dict[2.0]` minus level 5).
WIDTHS = (32, 128, 256, 512)
# EESP blocks after the down-samplers of levels 3 and 4.
REPEATS = (3, 7)
# Receptive-field limits (largest effective kernel) of the EESP blocks per level.
RECEPTIVE_LIMITS = (13, 11, 9, 7, 5)
BRANCHES = 4
# Pyramid-pool scales, largest first, and the decoder widths for Pascal (base 16).
PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)
DECODER_WIDTHS = (64, 48, 32)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def _conv(n_in, n_out, kernel, stride=1, dilation=1, groups=1, bias=False):
    """Conv with 'same' padding for odd kernels (padding = dilation * (kernel - 1) / 2)."""
    return nn.Conv2d(n_in, n_out, kernel, stride, dilation * (kernel - 1) // 2, dilation, groups, bias)


# Encoder building blocks: named submodules `conv`, `bn`, `act` (EdgeNets' espnet_utils).

class ConvBNPReLU(nn.Module):
    def __init__(self, n_in, n_out, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = _conv(n_in, n_out, kernel, stride, groups=groups)
        self.bn = nn.BatchNorm2d(n_out)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ConvBN(nn.Module):
    def __init__(self, n_in, n_out, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = _conv(n_in, n_out, kernel, stride, groups=groups)
        self.bn = nn.BatchNorm2d(n_out)

    def forward(self, x):
        return self.bn(self.conv(x))


class BNPReLU(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.bn = nn.BatchNorm2d(n)
        self.act = nn.PReLU(n)

    def forward(self, x):
        return self.act(self.bn(x))


class DepthwiseDilated(nn.Module):
    """Depthwise 3x3 conv with dilation `d` (no BN, no bias)."""

    def __init__(self, n, stride, d):
        super().__init__()
        self.conv = _conv(n, n, 3, stride, dilation=d, groups=n)

    def forward(self, x):
        return self.conv(x)


# Decoder building blocks: a Sequential named `cbr` / `br` (EdgeNets' cnn_utils).

class SeqConvBNPReLU(nn.Module):
    def __init__(self, n_in, n_out, kernel, groups=1):
        super().__init__()
        self.cbr = nn.Sequential(_conv(n_in, n_out, kernel, groups=groups), nn.BatchNorm2d(n_out), nn.PReLU(n_out))

    def forward(self, x):
        return self.cbr(x)


class SeqBNPReLU(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(n), nn.PReLU(n))

    def forward(self, x):
        return self.br(x)


class ChannelShuffle(nn.Module):
    """[B, g*c, H, W] -> [B, c*g, H, W]: channel j of group i moves to position j*g + i."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class EESP(nn.Module):
    """Reduce (grouped 1x1) -> split into `k` depthwise dilated 3x3 branches -> hierarchical sum ->
    concat, BN + PReLU -> grouped 1x1 expansion. Stride 1: + input, PReLU. Stride 2 (inside a
    down-sampler): returned before the residual and activation."""

    def __init__(self, n_in, n_out, stride=1, k=BRANCHES, r_lim=7):
        super().__init__()
        self.stride = stride
        n = n_out // k
        assert n * k == n_out, "EESP width must split evenly into the branches"
        self.proj_1x1 = ConvBNPReLU(n_in, n, 1, groups=k)
        # Effective kernel 3 + 2i per branch; above the limit it falls back to 3 (dilation 1).
        # Sorted, so equal-dilation branches come first.
        kernels = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(k))
        self.dilations = [(kk - 1) // 2 for kk in kernels]
        self.spp_dw = nn.ModuleList(DepthwiseDilated(n, stride, d) for d in self.dilations)
        self.conv_1x1_exp = ConvBN(n_out, n_out, 1, groups=k)
        self.br_after_cat = BNPReLU(n_out)
        self.module_act = nn.PReLU(n_out)  # unused (but saved) when stride == 2

    def forward(self, x):
        reduced = self.proj_1x1(x)  # [B, n, H, W]
        branches = []
        for branch in self.spp_dw:
            y = branch(reduced)  # [B, n, H/stride, W/stride]
            branches.append(y if not branches else y + branches[-1])
        out = self.conv_1x1_exp(self.br_after_cat(torch.cat(branches, 1)))  # [B, n_out, H/s, W/s]
        if self.stride == 2:
            return out
        if out.shape == x.shape:
            out = out + x
        return self.module_act(out)


class DownSampler(nn.Module):
    """Halves the resolution: [3x3/2 avg pool of the input || strided EESP] (n_in + (n_out - n_in)
    channels) + a projection of the RGB input pooled to the same size, then PReLU."""

    def __init__(self, n_in, n_out, r_lim, k=BRANCHES):
        super().__init__()
        self.eesp = EESP(n_in, n_out - n_in, stride=2, k=k, r_lim=r_lim)
        self.inp_reinf = nn.Sequential(ConvBNPReLU(3, 3, 3), ConvBN(3, n_out, 1))
        self.act = nn.PReLU(n_out)

    def forward(self, x, image):
        pooled = F.avg_pool2d(x, 3, 2, 1)  # [B, n_in, H/2, W/2]
        out = torch.cat([pooled, self.eesp(x)], 1)  # [B, n_out, H/2, W/2]
        # Pool the image (3x3/2, pad 1, zeros counted) until its width matches; at least once.
        while True:
            image = F.avg_pool2d(image, 3, 2, 1)
            if image.shape[-1] == pooled.shape[-1]:
                break
        return self.act(out + self.inp_reinf(image))


class EESPNetTrunk(nn.Module):
    """ESPNetv2's ImageNet encoder up to level 4 (stride 16)."""

    def __init__(self, widths=WIDTHS, repeats=REPEATS, limits=RECEPTIVE_LIMITS):
        super().__init__()
        self.level1 = ConvBNPReLU(3, widths[0], 3, stride=2)
        self.level2_0 = DownSampler(widths[0], widths[1], limits[0])
        self.level3_0 = DownSampler(widths[1], widths[2], limits[1])
        self.level3 = nn.ModuleList(EESP(widths[2], widths[2], r_lim=limits[2]) for _ in range(repeats[0]))
        self.level4_0 = DownSampler(widths[2], widths[3], limits[2])
        self.level4 = nn.ModuleList(EESP(widths[3], widths[3], r_lim=limits[3]) for _ in range(repeats[1]))

    def forward(self, image):
        """Features at strides 2, 4, 8, 16: `[B, 32, H/2, W/2]` ... `[B, 512, H/16, W/16]`."""
        l1 = self.level1(image)  # [B, 32, H/2, W/2]
        l2 = self.level2_0(l1, image)  # [B, 128, H/4, W/4]
        l3 = self.level3_0(l2, image)  # [B, 256, H/8, W/8]
        for block in self.level3:
            l3 = block(l3)
        l4 = self.level4_0(l3, image)  # [B, 512, H/16, W/16]
        for block in self.level4:
            l4 = block(l4)
        return l1, l2, l3, l4


class EfficientPyramidPool(nn.Module):
    """1x1 projection to `proj` channels; per scale, resample (bilinear up then adaptive-average
    back, or adaptive-average down then bilinear up; min side 5), depthwise 3x3; concat, BN + PReLU,
    shuffle, grouped 3x3 CBR, 1x1 to `n_out` (+ BN + PReLU unless last)."""

    def __init__(self, n_in, proj, n_out, last=False, scales=PYRAMID_SCALES):
        super().__init__()
        self.scales = sorted(scales, reverse=True)
        self.last = last
        self.projection_layer = SeqConvBNPReLU(n_in, proj, 1)
        self.stages = nn.ModuleList(_conv(proj, proj, 3, groups=proj) for _ in self.scales)
        s = len(self.scales)
        self.merge_layer = nn.Sequential(
            SeqBNPReLU(proj * s), ChannelShuffle(s), SeqConvBNPReLU(proj * s, proj, 3, groups=proj),
            nn.Conv2d(proj, n_out, 1, bias=last))
        if not last:
            self.br = SeqBNPReLU(n_out)

    def forward(self, x):
        x = self.projection_layer(x)  # [B, proj, H, W]
        h, w = x.shape[-2:]
        outs = []
        for scale, stage in zip(self.scales, self.stages):
            hs, ws = max(5, math.ceil(h * scale)), max(5, math.ceil(w * scale))
            if scale < 1.0:
                y = stage(F.adaptive_avg_pool2d(x, (hs, ws)))
                y = F.interpolate(y, (h, w), mode="bilinear", align_corners=True)
            elif scale > 1.0:
                y = stage(F.interpolate(x, (hs, ws), mode="bilinear", align_corners=True))
                y = F.adaptive_avg_pool2d(y, (h, w))
            else:
                y = stage(x)
            outs.append(y)  # [B, proj, H, W]
        out = self.merge_layer(torch.cat(outs, 1))  # [B, n_out, H, W]
        return out if self.last else self.br(out)


class GatedSkip(nn.Module):
    """EdgeNets' EfficientPWConv: grouped 3x3 CBR (groups = gcd) scaled per channel by a sigmoid of
    a 1x1 conv of the global average."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.wt_layer = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(n_in, n_out, 1, bias=False), nn.Sigmoid())
        self.expansion_layer = SeqConvBNPReLU(n_in, n_out, 3, groups=math.gcd(n_in, n_out))

    def forward(self, x):
        return self.expansion_layer(x) * self.wt_layer(x)  # [B, n_out, H, W]


class ESPNetv2Segmentation(nn.Module):
    """ESPNetv2 segmentation network; input `[B, 3, H, W]` normalised RGB with H, W multiples of
    16 (of 32 to be safe: the decoder doubles sizes), output `[B, classes, H, W]` logits."""

    def __init__(self, classes=21, widths=WIDTHS, decoder=DECODER_WIDTHS, base_dec=16):
        super().__init__()
        self.base_net = EESPNetTrunk(widths)
        proj = min(classes // 2, base_dec)
        d1, d2, d3 = decoder
        self.bu_dec_l1 = EfficientPyramidPool(widths[3], proj, d1)
        self.bu_dec_l2 = EfficientPyramidPool(d1, proj, d2)
        self.bu_dec_l3 = EfficientPyramidPool(d2, proj, d3)
        self.bu_dec_l4 = EfficientPyramidPool(d3, proj, classes, last=True)
        self.merge_enc_dec_l2 = GatedSkip(widths[2], d1)
        self.merge_enc_dec_l3 = GatedSkip(widths[1], d2)
        self.merge_enc_dec_l4 = GatedSkip(widths[0], d3)
        self.bu_br_l2 = nn.Sequential(nn.BatchNorm2d(d1), nn.PReLU(d1))
        self.bu_br_l3 = nn.Sequential(nn.BatchNorm2d(d2), nn.PReLU(d2))
        self.bu_br_l4 = nn.Sequential(nn.BatchNorm2d(d3), nn.PReLU(d3))

    @staticmethod
    def _up2(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    def forward(self, x):
        l1, l2, l3, l4 = self.base_net(x)
        y = self.bu_dec_l1(l4)  # [B, 64, H/16, W/16]
        y = self.bu_dec_l2(self.bu_br_l2(self._up2(y) + self.merge_enc_dec_l2(l3)))  # [B, 48, H/8, W/8]
        y = self.bu_dec_l3(self.bu_br_l3(self._up2(y) + self.merge_enc_dec_l3(l2)))  # [B, 32, H/4, W/4]
        y = self.bu_dec_l4(self.bu_br_l4(self._up2(y) + self.merge_enc_dec_l4(l1)))  # [B, 21, H/2, W/2]
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)  # [B, 21, H, W]


def from_checkpoint(path, classes=21):
    """The network with an EdgeNets state dict loaded strictly, in eval mode."""
    model = ESPNetv2Segmentation(classes)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def preprocess(rgb, size=384):
    """HWC uint8 RGB -> `[1, 3, size, size]`: PIL bilinear squash resize, /255, ImageNet mean/std."""
    from PIL import Image
    bilinear = getattr(Image, "Resampling", Image).BILINEAR
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").resize((size, size), bilinear)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)  # [3, size, size]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


@torch.no_grad()
def predict(model, rgb, size=384):
    """Softmax probabilities `[21, H, W]` (float32 numpy) for an HWC uint8 RGB image: the network
    runs at `size` x `size`; its probabilities are resized bilinearly to the image's H x W."""
    h, w = rgb.shape[:2]
    device = next(model.parameters()).device
    logits = model(preprocess(rgb, size).to(device))  # [1, 21, size, size]
    probs = torch.softmax(logits.float(), 1)
    probs = F.interpolate(probs, (h, w), mode="bilinear", align_corners=False)  # [1, 21, H, W]
    return probs[0].cpu().numpy().astype(np.float32)
