#!/usr/bin/env python3
"""How far a setting moves a model's segmentations: the share of pixels on which two `segserve
predict` runs over the dev images (training images, never val) agree once their segments are
matched one to one by largest overlap (segment ids are slots, arbitrary from sample to sample).

Each run is NAME=ARGS, its arguments to `segserve predict`, with SEGSERVE_* variables allowed in
front (`fp32-portable=SEGSERVE_NO_AVX512=1 --precision fp32`); the first is the reference. Runs
are cached in --work by name.

    python3 tools/train/agreement.py --model models/default --work runs/agreement \\
        fp32="--precision fp32" int8="--precision int8" seed1="--seed 1"
"""
import argparse
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from segtools import codec
from segtools.train import data

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def matched_pixels(a, b):
    """Pixels on which id maps `a` and `b` agree once b's ids are renamed to a's, one to one,
    greedily by largest overlap."""
    pairs = a.astype(np.int64) * (1 << 32) + b.astype(np.int64)
    values, counts = np.unique(pairs.ravel(), return_counts=True)
    used_a, used_b, same = set(), set(), 0
    for k in np.argsort(-counts, kind="stable"):
        x, y = int(values[k] >> 32), int(values[k] & 0xFFFFFFFF)
        if x not in used_a and y not in used_b:
            used_a.add(x)
            used_b.add(y)
            same += int(counts[k])
    return same


def predict(model, images, out, spec):
    """Runs `segserve predict` for spec "NAME=[VAR=VALUE ...] ARGS" into out/NAME, unless there."""
    name, args = spec.split("=", 1)
    folder = os.path.join(out, name)
    if not os.path.exists(os.path.join(folder, "predictions.json")):
        words = args.split()
        env = dict(os.environ)
        while words and "=" in words[0] and words[0].split("=", 1)[0].isupper():
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        subprocess.run([os.path.join(REPO, ".build", "release", "segserve"), "predict", "--model", model,
                        "--images", images, "--out", folder, *words], check=True, env=env, capture_output=True)
    return name, folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "default"))
    ap.add_argument("--work", required=True, help="folder for the dev images' links and each run's predictions")
    ap.add_argument("--data", default=data.DEFAULT_DATA)
    ap.add_argument("runs", nargs="+", metavar="NAME=ARGS")
    args = ap.parse_args()
    images = os.path.join(args.work, "images")
    os.makedirs(images, exist_ok=True)
    for kind in ("panoptic", "things"):
        for sample in data.dev_samples(args.data, kind):
            link = os.path.join(images, os.path.basename(sample.path))
            if not os.path.exists(link):
                os.symlink(os.path.abspath(sample.path), link)
    if not os.listdir(images):
        sys.exit(f"no dev images under {args.data}")
    runs = [predict(args.model, images, args.work, spec) for spec in args.runs]
    (reference, base), others = runs[0], runs[1:]
    names = sorted(os.listdir(os.path.join(base, "panoptic")))
    for name, folder in others:
        same = total = 0
        worst = 1.0
        for n in names:
            a = codec.ids_from_rgb(Image.open(os.path.join(base, "panoptic", n)).convert("RGB"))
            b = codec.ids_from_rgb(Image.open(os.path.join(folder, "panoptic", n)).convert("RGB"))
            m = matched_pixels(a, b)
            same, total, worst = same + m, total + a.size, min(worst, m / a.size)
        print(f"{name} against {reference}: {same / total:.4f} of pixels agree over {len(names)} images "
              f"(worst image {worst:.3f})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
