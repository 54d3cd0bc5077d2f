#!/usr/bin/env python3
"""Class-agnostic panoptic quality of a model directory on the things val or the panoptic val.

Things val (`--split val2017`, the default, or `things`): every val2017 image of the fully
annotated coco-instances sets (all but `-partial`; 251 images, each file name once); every
non-crowd instance is a segment of one category; crowd regions and unlabeled pixels are void.
Panoptic val (`--split panoptic`: panoptic-train/cocostuff-taming-val, or any other
panoptic-train set by name, or `panoptic-samples`): every non-crowd segment, thing or stuff, is
a segment; crowd and unlabeled pixels are void. `--report` scores both val kinds: segmentation,
inpainting with half of the segments known, and the auto-encoder ceiling. Predictions come from the Swift
runtime: `segserve segment` per image, or with `--batch` one `segserve predict` over all images
(one model load; `--extra` options such as `--ensemble-seeds 3 --flip --jobs 2` go to it).
With `--inpaint-known F`, `segserve inpaint` per image given a random fraction F of the
instances, scored on the others. With `--autoencoded`, no sampling: each ground truth map goes
through the model's mask auto-encoder at the working size and the model's post-processing (PyTorch
reference), the ceiling this auto-encoder and these thresholds put on any sampler. Scores come from panopticapi
(`pq_compute_multi_core`, averaged with `pq_average(cats, None)` since there are no stuff
categories) or, with `--scorer segserve`, from `segserve eval --class-agnostic`, next to two
trivial baselines, one segment per image and a 2x2 grid, and the edge-prior watershed
(`edge_prior.py`: HED edges at 384 px, h-minima markers, small regions void) when HED weights are
there (`--edges`, default `<model>/edges.safetensors`). `--baselines-only` scores just the
baselines, without the model.

    python3 tools/train/evaluate.py --model models/default [--limit 40] [--json out.json]
    python3 tools/train/evaluate.py --model models/default --batch --scorer segserve --extra --ensemble-seeds 3
    python3 tools/train/evaluate.py --model models/default --inpaint-known 0.5
    python3 tools/train/evaluate.py --model models/default --autoencoded --split panoptic
    python3 tools/train/evaluate.py --model models/default --report --batch [--limit 20] [--json report.json]
    python3 tools/train/evaluate.py --baselines-only --edges models/default/edges.safetensors --split panoptic
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from segtools.train import data
from segtools.train import edge_prior
from segtools.codec import read_ids, write_ids

CATEGORIES = [{"id": 1, "name": "object", "isthing": 1, "supercategory": "object"}]
# The two val kinds: things only (unlabeled pixels void), and things + stuff.
VAL_SPLITS = {"things": "val2017", "panoptic": "cocostuff-taming-val"}
# Rows of a score: the model's predictions, then the baselines.
ROWS = ("model", "one_segment", "grid_2x2", "edge_prior")
# The edge-prior baseline's settings: the best PQ of `edge_prior.py --choose --split
# cocostuff-taming-train --sigmas 1 2` (h 0.2-0.5 x min_area 1000-8000 x sigma 1, 2).
EDGE_SETTINGS = edge_prior.Settings(resolution=384, sigma=2.0, h=0.4, min_area=4000)
# Edge detectors loaded in this run by weights path, each with its probability maps.
_EDGES = {}


def annotation(image_id, file_name, ids):
    segments = []
    for v in np.unique(ids):
        if v == 0:
            continue
        ys, xs = np.nonzero(ids == v)
        segments.append({"id": int(v), "category_id": 1, "iscrowd": 0, "area": int(len(xs)),
                         "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]})
    return {"image_id": image_id, "file_name": file_name, "segments_info": segments}


def pq(gt_json, gt_dir, pred_json, pred_dir):
    from panopticapi.evaluation import pq_compute_multi_core
    with open(gt_json) as f:
        gt = json.load(f)
    with open(pred_json) as f:
        pred = {a["image_id"]: a for a in json.load(f)["annotations"]}
    matched = [(a, pred[a["image_id"]]) for a in gt["annotations"]]
    categories = {c["id"]: c for c in gt["categories"]}
    stat = pq_compute_multi_core(matched, gt_dir, pred_dir, categories)
    result, _ = stat.pq_average(categories, None)
    return {k: 100 * result[k] for k in ("pq", "sq", "rq")}


def pq_segserve(binary, gt_json, gt_dir, pred_json, pred_dir):
    out = subprocess.run([binary, "eval", "--gt-json", gt_json, "--gt-dir", gt_dir, "--pred-json", pred_json,
                          "--pred-dir", pred_dir, "--class-agnostic", "--json", "-"], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)["All"]
    return {k: 100 * report[k] for k in ("pq", "sq", "rq")}


def load_images(data_root, split):
    """(image path, id map) pairs: coco-instances val2017 / train2017 of the fully annotated
    sets (instances, unlabeled void), panoptic-samples, or a panoptic-train set (things and
    stuff); `things` and `panoptic` name the two val kinds."""
    split = VAL_SPLITS.get(split, split)
    if split in ("dev-panoptic", "dev-things"):
        return [(s.path, s.ids) for s in data.dev_samples(data_root, split[len("dev-"):])]
    if split == "panoptic-samples":
        return data.load_panoptic_samples(data_root)
    if split in ("val2017", "train2017"):
        return data.load_splits(data_root, split, sources=None)
    root = os.path.join(data_root, "panoptic-train", split)
    if not os.path.exists(os.path.join(root, "panoptic.json")):
        sys.exit(f"unknown split {split}: not val2017, train2017, panoptic-samples or a set in {os.path.dirname(root)}")
    return [(s.path, s.ids) for s in data.panoptic_samples(root)]


def linked_images(images, tmp):
    """A folder `tmp/images` of links to `images`' files, for one `segserve predict` run."""
    folder = os.path.join(tmp, "images")
    os.makedirs(folder, exist_ok=True)
    for path, _ in images:
        link = os.path.join(folder, os.path.basename(path))
        if not os.path.exists(link):
            os.symlink(os.path.abspath(path), link)
    return folder


def predict_batch(args, images, tmp):
    """All images through one `segserve predict` run; returns (id maps, seconds per image)."""
    folder = linked_images(images, tmp)
    out = os.path.join(tmp, "predict")
    cmd = [args.binary, "predict", "--model", args.model, "--images", folder, "--out", out]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    cmd += args.extra
    start = time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = (time.time() - start) / max(1, len(set(os.listdir(folder))))
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]
    return [read_ids(os.path.join(out, "panoptic", stem(p) + ".png")) for p, _ in images], seconds


def known_instances(ids, fraction, seed):
    """The ground truth with only a random `fraction` of its instances kept (the rest void)."""
    present = [v for v in np.unique(ids) if v != 0]
    rng = np.random.default_rng(seed)
    keep = rng.choice(present, size=int(round(fraction * len(present))), replace=False) if present else []
    return np.where(np.isin(ids, keep), ids, 0)


def run_each(args, images, tmp, partial=None):
    """`segserve segment` per image, or with `partial` (known instance maps) `segserve inpaint`
    given them as the mask; returns (id maps, seconds per image)."""
    preds, seconds = [], []
    for i, (path, _) in enumerate(images):
        out = os.path.join(tmp, "run")
        cmd = [args.binary, "segment" if partial is None else "inpaint", "--model", args.model, path, "--out", out]
        if partial is not None:
            mask = os.path.join(tmp, "known.png")
            write_ids(partial[i], mask)
            cmd += ["--mask", mask]
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        cmd += args.extra
        start = time.time()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds.append(time.time() - start)
        preds.append(read_ids(os.path.join(out, "panoptic.png")))
    return preds, seconds


def predict_autoencoded(model_dir, images):
    """Each ground truth map encoded and decoded by the model's mask auto-encoder at the working
    size, then post-processed with the model's thresholds; returns (id maps, seconds per image)."""
    import random
    import torch
    from segtools.train import parity  # the reference pipeline; torch is needed only here

    pipe, config = parity.load_pipeline(model_dir)
    inference = config["inference"]
    thresholds = {k: inference[k] for k in ("mask_th", "count_th", "overlap_th")}
    preds, seconds = [], []
    with torch.no_grad():
        for i, (_, ids) in enumerate(images):
            start = time.time()
            H, W = ids.shape
            h, w, ph, pw = pipe.working_size(H, W, inference["resolution"])
            # Random slots as in training, seeded per image so runs repeat.
            slots = data.remap_slots(torch.from_numpy(ids), random.Random(i))
            z, _ = pipe.encode_map(slots, slots != 0, h, w, ph, pw)
            pred, _ = pipe.decode(z, h, w, H, W, thresholds)
            preds.append((pred + 1).numpy())  # void -1 -> 0
            seconds.append(time.time() - start)
    return preds, seconds


def write_set(root, name, images, maps):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    anns = []
    for i, ((path, _), ids) in enumerate(zip(images, maps)):
        file_name = os.path.basename(path).replace(".jpg", ".png")
        write_ids(ids, os.path.join(folder, file_name))
        anns.append(annotation(i, file_name, ids))
    js = os.path.join(root, f"{name}.json")
    with open(js, "w") as f:
        json.dump({"images": [{"id": i, "file_name": os.path.basename(p)} for i, (p, _) in enumerate(images)],
                   "annotations": anns, "categories": CATEGORIES}, f)
    return js, folder


def edges_path(args):
    """The HED weights for the edge-prior row: --edges, else the model's edges.safetensors if it
    is there; None when there are none."""
    path = getattr(args, "edges", None)
    if path:
        return path
    model = getattr(args, "model", None)
    path = os.path.join(model, "edges.safetensors") if model else None
    return path if path and os.path.exists(path) else None


def edge_prior_row(args, images):
    """(id maps, seconds per image) of the edge-prior baseline, or None without HED weights.
    Probability maps are kept for the rest of the run, so further scores reuse them."""
    path = edges_path(args)
    if path is None:
        return None
    if path not in _EDGES:
        _EDGES[path] = edge_prior.Edges(path)
    start = time.time()
    maps = edge_prior.edge_prior_maps(images, EDGE_SETTINGS, _EDGES[path])
    return maps, (time.time() - start) / max(1, len(images))


def score(args, images, inpaint_known=0.0, autoencoded=False):
    """PQ / SQ / RQ of the model's predictions and of the baselines on `images` (one segment, a
    2x2 grid, and the edge prior when HED weights are there): segmentation, inpainting given a
    fraction of the segments, or the auto-encoded ground truth."""
    partial = [known_instances(ids, inpaint_known, seed=i) for i, (_, ids) in enumerate(images)]
    with tempfile.TemporaryDirectory() as tmp:
        # Inpainting is scored on the instances it was not given: the known ones are void.
        truth = [np.where(known == 0, ids, 0) for (_, ids), known in zip(images, partial)]
        gt_json, gt_dir = write_set(tmp, "gt", images, truth)
        single = [np.ones_like(ids) for _, ids in images]
        grid = []
        for _, ids in images:
            h, w = ids.shape
            g = np.ones_like(ids)
            g[:h // 2, w // 2:] = 2
            g[h // 2:, :w // 2] = 3
            g[h // 2:, w // 2:] = 4
            grid.append(g)
        if getattr(args, "baselines_only", False):
            preds, seconds = None, []
        elif autoencoded:
            preds, seconds = predict_autoencoded(args.model, images)
        elif args.batch and not inpaint_known:
            preds, per_image = predict_batch(args, images, tmp)
            seconds = [per_image]
        else:
            preds, seconds = run_each(args, images, tmp, partial if inpaint_known else None)
        scores = {"images": len(images), "seconds_per_image_median": float(np.median(seconds)) if seconds else None,
                  "options": args.extra}
        rows = [("model", preds), ("one_segment", single), ("grid_2x2", grid)]
        edge = edge_prior_row(args, images)
        if edge is None:
            scores["notes"] = ["edge_prior skipped: no HED weights (--edges, or edges.safetensors in the model)"]
            print(scores["notes"][0], file=sys.stderr)
        else:
            rows.append(("edge_prior", edge[0]))
            scores["edge_prior_seconds_per_image"] = edge[1]
        for name, maps in rows:
            if maps is None:
                continue
            js, folder = write_set(tmp, name, images, maps)
            if args.scorer == "segserve":
                scores[name] = pq_segserve(args.binary, gt_json, gt_dir, js, folder)
            else:
                scores[name] = pq(gt_json, gt_dir, js, folder)
    return scores


def report(args):
    """Both val kinds: segmentation, inpainting (a fraction F of the segments known, default
    0.5) and the auto-encoder ceiling, each next to the baselines; prints a Markdown table."""
    fraction = args.inpaint_known or 0.5
    out, rows = {}, []
    for kind in VAL_SPLITS:
        images = load_images(args.data_root, kind)
        images = images[:args.limit] if args.limit else images
        out[kind] = {"segment": score(args, images), f"inpaint_{fraction:g}": score(args, images, fraction),
                     "autoencoded": score(args, images, autoencoded=True)}
        for mode, scores in out[kind].items():
            for name in [n for n in ROWS if n in scores]:
                r = scores[name]
                rows.append(f"| {kind} ({len(images)}) | {mode} | {name} | {r['pq']:.1f} | {r['sq']:.1f} | {r['rq']:.1f} |")
    print("| val | task | predictions | PQ | SQ | RQ |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows),
          file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory (required unless --baselines-only)")
    ap.add_argument("--edges", help="HED weights (edges.safetensors) for the edge_prior row "
                    "(default: <model>/edges.safetensors if there; without them the row is skipped)")
    ap.add_argument("--baselines-only", action="store_true", help="score only the baselines, no model predictions")
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--binary", default=os.path.join(data.REPO, ".build", "release", "segserve"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0, help="sampler steps (0: the model's default)")
    ap.add_argument("--split", default="val2017", help="val2017 or things (the things val); dev-panoptic or dev-things "
                    "(the dev split: training images held out of training) or train2017 to choose settings without "
                    "the validation images (val2017, train2017: the fully annotated coco-instances sets); "
                    "panoptic (the panoptic val, cocostuff-taming-val), another panoptic-train set, or "
                    "panoptic-samples (things and stuff are all segments)")
    ap.add_argument("--report", action="store_true", help="score both val kinds: segmentation, inpainting "
                    "(--inpaint-known, default 0.5) and --autoencoded, each next to the baselines")
    ap.add_argument("--batch", action="store_true", help="one `segserve predict` run instead of `segserve segment` per image")
    ap.add_argument("--scorer", choices=["panopticapi", "segserve"], default="panopticapi",
                    help="panopticapi, or `segserve eval --class-agnostic`")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further `segserve segment` / `predict` options")
    ap.add_argument("--inpaint-known", type=float, default=0.0, metavar="F",
                    help="score inpainting instead: a random fraction F of each image's instances is given as "
                         "the known mask (`segserve inpaint`) and scoring counts only the other instances")
    ap.add_argument("--autoencoded", action="store_true",
                    help="score the ground truth through the model's mask auto-encoder instead of sampled predictions")
    ap.add_argument("--json", help="write the scores here")
    args = ap.parse_args()
    if args.autoencoded and args.inpaint_known:
        ap.error("--autoencoded scores segmentation only; leave out --inpaint-known")
    if args.report and args.autoencoded:
        ap.error("--report includes --autoencoded")
    if not args.model and not args.baselines_only:
        ap.error("--model is required unless --baselines-only")
    if args.baselines_only and (args.report or args.autoencoded or args.inpaint_known):
        ap.error("--baselines-only scores segmentation of one split; leave out --report, --autoencoded and --inpaint-known")

    if args.report:
        scores = report(args)
    else:
        images = load_images(args.data_root, args.split)
        if args.limit:
            images = images[:args.limit]
        scores = score(args, images, args.inpaint_known, args.autoencoded)
    print(json.dumps(scores, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)


if __name__ == "__main__":
    main()
