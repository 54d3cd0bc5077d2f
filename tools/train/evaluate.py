#!/usr/bin/env python3
"""Class-agnostic panoptic quality of a model directory on the coco-instances val splits.

Ground truth: every non-crowd instance is a segment of one category; crowd regions and
unlabeled pixels are void. With `--split panoptic-samples`, the COCO panoptic samples, where
every non-crowd segment (things and stuff) is a segment. Predictions come from the Swift
runtime: `segserve segment` per image, or with `--batch` one `segserve predict` over all images
(one model load; `--extra` options such as `--ensemble-seeds 3 --flip --jobs 2` go to it).
With `--inpaint-known F`, `segserve inpaint` per image given a random fraction F of the
instances, scored on the others. With `--autoencoded`, no sampling: each ground truth map goes
through the model's mask auto-encoder at the working size and the model's post-processing (PyTorch
reference), the ceiling this auto-encoder and these thresholds put on any sampler. Scores come from panopticapi
(`pq_compute_multi_core`, averaged with `pq_average(cats, None)` since there are no stuff
categories) or, with `--scorer segserve`, from `segserve eval --class-agnostic`, next to two
trivial baselines: one segment per image and a 2x2 grid.

    python3 tools/train/evaluate.py --model models/default [--limit 40] [--json out.json]
    python3 tools/train/evaluate.py --model models/default --batch --scorer segserve --extra --ensemble-seeds 3
    python3 tools/train/evaluate.py --model models/default --inpaint-known 0.5
    python3 tools/train/evaluate.py --model models/default --autoencoded
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402

CATEGORIES = [{"id": 1, "name": "object", "isthing": 1, "supercategory": "object"}]


def to_png(ids, path):
    ids = ids.astype(np.uint32)
    rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path)


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


def read_ids(path):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def predict_batch(args, images, tmp):
    """All images through one `segserve predict` run; returns (id maps, seconds per image)."""
    folder = os.path.join(tmp, "images")
    os.makedirs(folder, exist_ok=True)
    for path, _ in images:
        link = os.path.join(folder, os.path.basename(path))
        if not os.path.exists(link):
            os.symlink(os.path.abspath(path), link)
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
            to_png(partial[i], mask)
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
    import parity  # the reference pipeline; torch is needed only here

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
        to_png(ids, os.path.join(folder, file_name))
        anns.append(annotation(i, file_name, ids))
    js = os.path.join(root, f"{name}.json")
    with open(js, "w") as f:
        json.dump({"images": [{"id": i, "file_name": os.path.basename(p)} for i, (p, _) in enumerate(images)],
                   "annotations": anns, "categories": CATEGORIES}, f)
    return js, folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--binary", default=os.path.join(data.REPO, ".build", "release", "segserve"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0, help="DDIM steps (0: the model's default)")
    ap.add_argument("--split", default="val2017", help="val2017; train2017 to tune thresholds without the validation images; "
                    "or panoptic-samples (things and stuff are all segments)")
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

    if args.split == "panoptic-samples":
        images = data.load_panoptic_samples(args.data_root)
    else:
        images = data.load_splits(args.data_root, args.split)
    if args.limit:
        images = images[:args.limit]
    partial = [known_instances(ids, args.inpaint_known, seed=i) for i, (_, ids) in enumerate(images)]
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
        if args.autoencoded:
            preds, seconds = predict_autoencoded(args.model, images)
        elif args.batch and not args.inpaint_known:
            preds, per_image = predict_batch(args, images, tmp)
            seconds = [per_image]
        else:
            preds, seconds = run_each(args, images, tmp, partial if args.inpaint_known else None)
        scores = {"images": len(images), "seconds_per_image_median": float(np.median(seconds)),
                  "options": args.extra}
        for name, maps in [("model", preds), ("one_segment", single), ("grid_2x2", grid)]:
            js, folder = write_set(tmp, name, images, maps)
            if args.scorer == "segserve":
                scores[name] = pq_segserve(args.binary, gt_json, gt_dir, js, folder)
            else:
                scores[name] = pq(gt_json, gt_dir, js, folder)
    print(json.dumps(scores, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)


if __name__ == "__main__":
    main()
