#!/usr/bin/env python3
"""Edge-prior watershed baseline: HED edges, h-minima markers, a watershed, small regions void.

Each image is resized so its longest side is `resolution` pixels (Pillow bilinear on the RGB
image) and run through HED (`tools/reference/hed.py`, fused edge probability). The probability
map is smoothed with a Gaussian of `sigma` (SciPy, reflected borders), its h-minima of depth `h`
(`skimage.morphology.h_minima`, 8-connected components) are the markers of a watershed
(`skimage.segmentation.watershed`) on the smoothed map; the labels are upsampled to the original
size (nearest) and every region under `min_area` original-size pixels becomes void (0).

`evaluate.py` scores this as the `edge_prior` row next to its other baselines. `--choose` picks
the settings on a train split: a grid over h x min_area (x sigma with `--sigmas`), HED run once
per image, a Markdown table of class-agnostic PQ / SQ / RQ per setting, and the best. Val splits
are refused.

    python3 tools/train/edge_prior.py --choose --split cocostuff-taming-train --edges models/default/edges.safetensors
    python3 tools/train/edge_prior.py --choose --split train2017 --edges EDGES --sigmas 1 2 [--json grid.json]
"""
import argparse
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from segtools.train import data
from segtools.reference.hed import from_safetensors, preprocess

THREADS = 2


class Settings(NamedTuple):
    """The defaults are the starting recipe; `evaluate.EDGE_SETTINGS` holds the ones chosen on
    cocostuff-taming-train."""
    resolution: int = 384  # HED input: longest side in pixels
    sigma: float = 1.0  # Gaussian smoothing of the edge probability
    h: float = 0.4  # depth of the h-minima markers, in probability
    min_area: int = 4000  # regions under this many original-size pixels are void


def resized(image, resolution):
    """The RGB image (PIL) with its longest side `resolution` pixels, Pillow bilinear."""
    w, h = image.size
    f = resolution / max(w, h)
    return image.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR)


class Edges:
    """HED fused edge probabilities of image files, each computed once per resolution and kept
    in memory: float32 `[h, w]` at the resized size."""

    def __init__(self, path_or_model):
        self.model = from_safetensors(path_or_model) if isinstance(path_or_model, str) else path_or_model.eval()
        self.cache = {}
        self.seconds = []  # HED time of each computed map

    def probability(self, image):
        """The edge probability of an RGB image (PIL) at its own size."""
        torch.set_num_threads(THREADS)
        rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return self.model(preprocess(rgb))[0, 0].numpy()

    def __call__(self, path, resolution):
        key = (os.path.abspath(path), resolution)
        if key not in self.cache:
            image = resized(Image.open(path).convert("RGB"), resolution)
            start = time.perf_counter()
            self.cache[key] = self.probability(image)
            self.seconds.append(time.perf_counter() - start)
        return self.cache[key]


def watershed_regions(prob, sigma, h):
    """Watershed labels (1..n) of an edge probability map at its own size."""
    from scipy import ndimage
    from skimage.morphology import h_minima
    from skimage.segmentation import watershed
    smooth = ndimage.gaussian_filter(prob.astype(np.float64), sigma) if sigma > 0 else prob.astype(np.float64)
    markers, n = ndimage.label(h_minima(smooth, h), structure=np.ones((3, 3)))
    if n == 0:  # flatter than h: one region
        return np.ones(prob.shape, dtype=np.int32)
    return watershed(smooth, markers)


def upsampled(labels, shape):
    """Labels resized to `shape` (H, W), nearest neighbour."""
    H, W = shape
    if labels.shape == (H, W):
        return labels.astype(np.int32)
    return np.asarray(Image.fromarray(labels.astype(np.int32)).resize((W, H), Image.NEAREST), dtype=np.int32)


def drop_small(labels, min_area):
    """Regions under `min_area` pixels set to void (0)."""
    counts = np.bincount(labels.ravel())
    small = counts < min_area
    small[0] = True
    return np.where(small[labels], 0, labels).astype(np.int32)


def segment(prob, shape, settings):
    """The id map (int32, 0 void) at `shape` from an edge probability map."""
    labels = upsampled(watershed_regions(prob, settings.sigma, settings.h), shape)
    return drop_small(labels, settings.min_area)


def edge_prior_maps(images, settings=Settings(), edges=None):
    """Id maps of the edge-prior baseline for `images` ((path, ground truth ids) pairs; the
    ids give the size); `edges` is an `Edges` (its cache is reused) or an edges.safetensors path."""
    edges = edges if isinstance(edges, Edges) else Edges(edges)
    return [segment(edges(path, settings.resolution), ids.shape, settings) for path, ids in images]


def choose(images, edges, hs, areas, sigmas, resolution=Settings().resolution):
    """PQ / SQ / RQ of every setting of the grid on `images` ([(Settings, scores)], grid order)."""
    from segtools.train import evaluate  # the scorer; imported here since evaluate imports this module
    probs = [edges(path, resolution) for path, _ in images]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        gt_json, gt_dir = evaluate.write_set(tmp, "gt", images, [ids for _, ids in images])
        for sigma, h in itertools.product(sigmas, hs):
            # The watershed does not depend on min_area: one per (sigma, h), then each threshold.
            labels = [upsampled(watershed_regions(p, sigma, h), ids.shape) for p, (_, ids) in zip(probs, images)]
            for area in areas:
                settings = Settings(resolution, sigma, h, area)
                maps = [drop_small(x, area) for x in labels]
                js, folder = evaluate.write_set(tmp, "pred", images, maps)
                with contextlib.redirect_stdout(sys.stderr):  # panopticapi's progress lines
                    results.append((settings, evaluate.pq(gt_json, gt_dir, js, folder)))
    return results


def table(results, best=None):
    rows = ["| sigma | h | min_area | PQ | SQ | RQ |", "| --- | --- | --- | --- | --- | --- |"]
    for s, r in results:
        mark = " **best**" if s == best else ""
        rows.append(f"| {s.sigma:g} | {s.h:g} | {s.min_area} | {r['pq']:.1f}{mark} | {r['sq']:.1f} | {r['rq']:.1f} |")
    return "\n".join(rows)


def snap(ids, prob, h, min_area, sigma=1.0, first_free=None):
    """A segmentation snapped to the edges (`EdgeSnapping` in the runtime): the watershed regions
    of `prob` (markers `h` deep), upsampled to the size of `ids`, each take the id most of their
    pixels have; a region mostly void (0) becomes a segment of its own (ids from `first_free`,
    default above the largest); segments under `min_area` pixels become void. Ties go to the
    lower id."""
    regions = upsampled(watershed_regions(prob, sigma, h), ids.shape)
    out = np.zeros_like(regions)
    nxt = int(ids.max(initial=0)) + 1 if first_free is None else first_free
    for r in np.unique(regions):
        inside = regions == r
        values, counts = np.unique(ids[inside], return_counts=True)
        top = values[counts == counts.max()].min()  # np.unique sorts: the lowest of the most frequent
        if top == 0:
            top, nxt = nxt, nxt + 1
        out[inside] = top
    return drop_small(out, min_area)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--choose", action="store_true", help="score the grid on --split and print the best settings")
    ap.add_argument("--split", default="cocostuff-taming-train",
                    help="a train split: a panoptic-train set, or train2017 (the fully annotated coco-instances sets)")
    ap.add_argument("--edges", required=True, help="an edges.safetensors (tools/export_hed.py)")
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--hs", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5])
    ap.add_argument("--areas", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    ap.add_argument("--sigmas", type=float, nargs="+", default=[Settings().sigma])
    ap.add_argument("--resolution", type=int, default=Settings().resolution)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", help="write the grid's scores here")
    args = ap.parse_args()
    if not args.choose:
        ap.error("nothing to do: pass --choose")
    from segtools.train import evaluate
    split = evaluate.VAL_SPLITS.get(args.split, args.split)
    if data.is_val_name(split) or split == "panoptic-samples":
        ap.error(f"{args.split} holds validation images: choose settings on a train split")
    torch.set_num_threads(THREADS)
    images = evaluate.load_images(args.data_root, split)
    images = images[:args.limit] if args.limit else images
    edges = Edges(args.edges)
    results = choose(images, edges, args.hs, args.areas, args.sigmas, args.resolution)
    best, scores = max(results, key=lambda r: r[1]["pq"])
    print(f"{split} ({len(images)} images), HED at {args.resolution} px: "
          f"{np.mean(edges.seconds):.2f} s per image ({THREADS} threads)\n")
    print(table(results, best))
    print(f"\nbest: {best} PQ {scores['pq']:.1f} SQ {scores['sq']:.1f} RQ {scores['rq']:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"split": split, "images": len(images), "hed_seconds_per_image": float(np.mean(edges.seconds)),
                       "best": best._asdict(), "grid": [{**s._asdict(), **r} for s, r in results]}, f, indent=2)


if __name__ == "__main__":
    main()
