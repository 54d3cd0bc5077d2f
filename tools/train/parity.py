#!/usr/bin/env python3
"""Does the Swift runtime segment like PyTorch with an exported model directory?

Runs `segserve segment` and the PyTorch reference pipeline (tools/reference) on the same image
with the same initial noise (segserve's seeded SplitMix64 + Box-Muller noise, reproduced here)
and reports the share of pixels whose segment ids agree (one run: no test-time ensembling). Post-processing keeps every slot
(mask_th 0.001 is below 1/128, counts and overlaps 0), so every pixel takes its argmax slot and
the comparison covers the whole image.

    python3 tools/train/parity.py --model models/default --image photo.jpg [--steps 20]
"""
import argparse
import json
import math
import os
import subprocess
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from segtools.train import data
from segtools.reference import hed
from segtools.reference import ldmseg_reference as ref
from segtools.reference import mobilenet_v2 as mnv2
from segtools.train import train
from segtools.codec import read_ids
from segtools.testing import PHOTOS

MASK64 = (1 << 64) - 1


def gaussian_noise(seed, shape):
    """segserve's `GaussianNoise`: SplitMix64 bits, Box-Muller pairs, float32."""
    state = seed & MASK64

    def uniform():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        return ((z >> 11) + 1) / 9007199254740992.0

    count = int(np.prod(shape))
    out = np.empty(count, dtype=np.float32)
    for i in range(0, count, 2):
        r, theta = math.sqrt(-2 * math.log(uniform())), 2 * math.pi * uniform()
        out[i] = r * math.cos(theta)
        if i + 1 < count:
            out[i + 1] = r * math.sin(theta)
    return torch.from_numpy(out.reshape(shape))


def load_pipeline(model_dir):
    """The reference pipeline over a model directory written by train.py's export."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    weights = lambda name: {k: v.float() for k, v in load_file(os.path.join(model_dir, config[name]["weights"])).items()}
    enc_w = weights("image_encoder")
    if config["image_encoder"]["type"] == "mobilenet_v2":
        encoder = mnv2.from_folded(enc_w)
        latent = enc_w["fuse.out.weight"].shape[0]
    else:
        encoder = ref.tiny_encoder(width=enc_w["0.weight"].shape[0], latent=enc_w["14.weight"].shape[0])
        encoder.load_state_dict(enc_w)
        latent = encoder[-1].out_channels
    ae = ref.MaskAutoencoder(groups=config["mask_autoencoder"]["norm_num_groups"],
                             scaling_factor=config["mask_autoencoder"]["scaling_factor"])
    ae.load_state_dict(weights("mask_autoencoder"))
    self_condition = bool(config["unet"].get("self_conditioning", False))
    edges = None
    if "edges" in config:
        edges = hed.HED()
        edges.load_state_dict(weights("edges"))
        latent += hed.CELL ** 2 + len(edges.blocks)
    unet = train.make_unet(latent, self_condition)
    unet.load_state_dict(weights("unet"))
    for m in (encoder, ae, unet) + ((edges,) if edges else ()):
        m.eval().requires_grad_(False)
    return ref.Pipeline(encoder, ae, unet, self_condition=self_condition, edges=edges), config


@torch.no_grad()
def compare(model_dir, image_path, binary, steps=None, seed=0, thresholds=(0.001, 0, 0.0)):
    """(share of pixels with equal ids, segments in the Swift output) for one image."""
    pipe, config = load_pipeline(model_dir)
    steps = steps or config["inference"]["steps"]
    resolution = config["inference"]["resolution"]
    th = dict(zip(("mask_th", "count_th", "overlap_th"), thresholds))
    with tempfile.TemporaryDirectory() as tmp:
        # One decoded image for both sides, so JPEG decoders cannot differ.
        png = os.path.join(tmp, "image.png")
        Image.open(image_path).convert("RGB").save(png)
        subprocess.run([binary, "segment", "--model", model_dir, png, "--out", tmp, "--steps", str(steps),
                        "--seed", str(seed), "--mask-th", str(th["mask_th"]), "--count-th", str(th["count_th"]),
                        "--overlap-th", str(th["overlap_th"]), "--ensemble-seeds", "1", "--no-flip", "--threads", "1"],
                       check=True, capture_output=True)
        swift = read_ids(os.path.join(tmp, "panoptic.png"))
        image = torch.from_numpy(np.asarray(Image.open(png), dtype=np.uint8).copy())
    _, _, ph, pw = pipe.working_size(*image.shape[:2], resolution)
    noise = gaussian_noise(seed, (1, pipe.mask_ae.latent, ph // 8, pw // 8))
    ids, _, _ = pipe.segment(image, noise, steps, resolution, th)
    return float((ids.numpy() == swift).mean()), len(np.unique(swift[swift != 0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", help="default: the first photo of Tests/Fixtures/photos")
    ap.add_argument("--binary", default=os.path.join(data.REPO, ".build", "release", "segserve"))
    ap.add_argument("--steps", type=int, default=0, help="DDIM steps (0: the model's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    image = args.image or PHOTOS[0]
    agreement, segments = compare(args.model, image, args.binary, args.steps, args.seed)
    print(json.dumps({"image": os.path.basename(image), "pixel_agreement": agreement, "segments": segments}))


if __name__ == "__main__":
    main()
