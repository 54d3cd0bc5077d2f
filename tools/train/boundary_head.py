#!/usr/bin/env python3
"""A boundary map learnt on the training images' segment boundaries, for the merger
(`agglomerate.py --boundary`).

Per image, resized to `resolution` px on its longest side as for the merger's regions: HED's five
side outputs and fused output as logits, ESPNetv2's 21 Pascal VOC class probabilities, ImageNet
MobileNetV2's stride-8 map (32 channels, upsampled bilinearly) and CIELAB colour: 62 channels,
frozen. A small head (three 3x3 convolutions of 32 channels, dilations 1, 2, 4, then 1x1) learns
p(segment boundary): a pixel whose 3x3 neighbourhood holds two ground-truth ids; in panoptic
images, neighbourhoods that touch void are unknown (void there is unlabelled). Loss: class-balanced
cross-entropy as HED's (Xie & Tu 2015), random 128 px crops, AdamW with a cosine schedule.

Heads are cross-fitted, so no map the merger learns or is scored on comes from a head that saw its
image: the training images (every training set but the partial ones and dev, in
`agglomerate.py`'s order) are split by parity, each half's maps come from the head trained on the
other half, and dev and val maps from a head trained on all of them.

    python3 tools/train/boundary_head.py features --work runs/boundary --edges EDGES [--val]
    python3 tools/train/boundary_head.py train --work runs/boundary [--steps 1500]
    python3 tools/train/boundary_head.py apply --work runs/boundary [--val]
then `agglomerate.py ... --boundary runs/boundary/maps`.
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from segtools.reference import espnetv2
from segtools.train import agglomerate as ag, data, edge_prior
from segtools.train.train import cosine_lr

CHANNELS = 6 + 21 + 32 + 3
UNKNOWN = 255


def images(data_root, val=False):
    """[(name, sample, panoptic)]: the merger's training images in its order, dev, and with `val` both val splits."""
    out = [("train", s, t.kind == "panoptic") for t in data.training_sets(data_root) if t.kind != "partial" for s in t.samples]
    for kind in ("panoptic", "things"):
        out += [(f"dev-{kind}", s, kind == "panoptic") for s in data.dev_samples(data_root, kind)]
        if val:
            out += [(f"val-{kind}", s, kind == "panoptic") for s in ag.val_samples(data_root, kind)]
    return out


@torch.no_grad()
def inputs(networks, espnet, path, resolution):
    """float16 [62, h, w]: the frozen maps of an image at the regions' size."""
    from skimage.color import rgb2lab
    image = np.asarray(edge_prior.resized(Image.open(path).convert("RGB"), resolution))
    logits, _, taps = networks.outputs(image)
    sides = torch.cat(logits, 1)[0].clamp(-10, 10) / 5
    tap = F.interpolate(taps[0], size=image.shape[:2], mode="bilinear", align_corners=False)[0] / 4
    probs = torch.from_numpy(espnetv2.predict(espnet, image))
    lab = torch.from_numpy(rgb2lab(image).astype(np.float32)).permute(2, 0, 1) / 50
    return torch.cat([sides, probs, tap, lab]).numpy().astype(np.float16)


def target(ids, shape, panoptic):
    """uint8 `shape`: 1 on a segment boundary, 0 off it, UNKNOWN next to panoptic void."""
    small = ag.resized_ids(ids, shape)
    hi = ndimage.maximum_filter(small, size=3)
    lo = ndimage.minimum_filter(small, size=3)
    out = (hi != lo).astype(np.uint8)
    if panoptic:
        out[lo == 0] = UNKNOWN
    return out


class BoundaryHead(nn.Module):
    """p(segment boundary) as a logit `[B, H, W]` from the 62 frozen channels."""

    def __init__(self, width=32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(CHANNELS, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
                                 nn.Conv2d(width, 1, 1))

    def forward(self, x):
        return self.net(x)[:, 0]


def crop(x, y, rng, size):
    """A random `size` crop of one image's inputs and target (padded with unknown), flipped half the time."""
    h, w = y.shape
    c = min(size, h, w)
    i, j = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
    x, y = x[:, i:i + c, j:j + c], y[i:i + c, j:j + c]
    if c < size:
        x = np.pad(x, ((0, 0), (0, size - c), (0, size - c)))
        y = np.pad(y, ((0, size - c), (0, size - c)), constant_values=UNKNOWN)
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)


def balanced_loss(logits, y):
    """HED's class-balanced cross-entropy over the known pixels."""
    known = y != UNKNOWN
    positive = (y == 1).float()
    pos = (positive * known).sum()
    neg = known.sum() - pos
    weight = torch.where(positive > 0, neg, pos) / (pos + neg + 1) * known
    return (F.binary_cross_entropy_with_logits(logits, positive, reduction="none") * weight).sum() / known.sum().clamp(min=1)


def fit(files, steps, seed, lr=2e-3, size=128, batch=8):
    """A head trained on the inputs and targets saved in `files`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    loaded = []
    for f in files:
        with np.load(f) as z:
            loaded.append((z["x"], z["y"]))
    head = BoundaryHead()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    start = time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=0, floor=0.0)
        xs, ys = zip(*(crop(*loaded[rng.integers(len(loaded))], rng, size) for _ in range(batch)))
        loss = balanced_loss(head(torch.from_numpy(np.stack(xs))), torch.from_numpy(np.stack(ys)).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0:
            print(f"step {step} of {steps}: loss {loss.item():.4f}, {time.time() - start:.0f} s", flush=True)
    return head.eval()


def cross_fit(train):
    """[(head, the training images it learns from)]: head p learns from the other parity's images
    (`head_for`), head-all from every one."""
    return [("head0", train[1::2]), ("head1", train[0::2]), ("head-all", train)]


def head_for(index, name):
    """Which head maps an image: training image `index` gets head p, p its parity; others head-all."""
    return f"head{index % 2}" if name == "train" else "head-all"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["features", "train", "apply"])
    ap.add_argument("--work", required=True, help="inputs/, heads and maps/ go here")
    ap.add_argument("--edges", help="an edges.safetensors (tools/export_hed.py); for features")
    ap.add_argument("--inputs", default=data.DEFAULT_INPUTS, help="the folder of weights/ (MobileNetV2, ESPNetv2)")
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--resolution", type=int, default=384)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val", action="store_true", help="also the val images (to confirm a merger, never to choose)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    items = images(args.data_root, args.val)
    folder = os.path.join(args.work, "inputs")
    path = lambda name, s: os.path.join(folder, f"{name}-{s.image_id}.npz")
    if args.phase == "features":
        if not args.edges:
            ap.error("features needs --edges")
        networks = ag.Networks(args.edges, args.inputs)
        espnet = espnetv2.from_checkpoint(os.path.join(args.inputs, "weights", "espnetv2", espnetv2.CHECKPOINT))
        os.makedirs(folder, exist_ok=True)
        for name, s, panoptic in items:
            if not os.path.exists(path(name, s)):
                x = inputs(networks, espnet, s.path, args.resolution)
                np.savez(path(name, s), x=x, y=target(s.ids, x.shape[1:], panoptic))
    elif args.phase == "train":
        train = [path(name, s) for name, s, _ in items if name == "train"]
        for seed, (key, files) in enumerate(cross_fit(train)):
            torch.save(fit(files, args.steps, seed).state_dict(), os.path.join(args.work, f"{key}.pt"))
    else:
        heads = {}
        for key in ("head0", "head1", "head-all"):
            heads[key] = BoundaryHead()
            heads[key].load_state_dict(torch.load(os.path.join(args.work, f"{key}.pt"), weights_only=True))
            heads[key].eval()
        os.makedirs(os.path.join(args.work, "maps"), exist_ok=True)
        index = 0
        for name, s, _ in items:
            key = head_for(index, name)
            index += name == "train"
            with np.load(path(name, s)) as z, torch.no_grad():
                prob = torch.sigmoid(heads[key](torch.from_numpy(z["x"].astype(np.float32))[None]))[0]
            np.save(os.path.join(args.work, "maps", f"{name}-{s.image_id}.npy"), prob.numpy().astype(np.float16))


if __name__ == "__main__":
    main()
