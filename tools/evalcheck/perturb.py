"""Prediction sets made from COCO panoptic ground truth by perturbing it: dropped, merged,
split, shifted segments, void holes, crowd overlaps, wrong categories. Each set is written as
a COCO panoptic JSON + PNG folder, so any evaluator can score it."""
import copy
import json
import os

import numpy as np

from segtools import codec


def segments_from(ids, template, rng):
    """segments_info for the ids present, keeping categories from `template` and inventing new ones."""
    by_id = {s["id"]: s for s in template}
    cats = [s["category_id"] for s in template]
    out = []
    for v in np.unique(ids):
        if v == 0:
            continue
        ys, xs = np.nonzero(ids == v)
        s = dict(by_id.get(int(v), {"id": int(v), "category_id": int(rng.choice(cats)), "iscrowd": 0}))
        s.update(id=int(v), area=int(len(xs)), iscrowd=0,
                 bbox=[int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)])
        out.append(s)
    return out


def perturb(ids, segments, kind, rng):
    ids = ids.copy()
    segs = [s for s in segments if not s.get("iscrowd", 0)]
    if kind == "identity":
        pass
    elif kind == "drop":
        for s in rng.permutation(segs)[: max(1, len(segs) // 3)]:
            ids[ids == s["id"]] = 0
    elif kind == "merge":
        by_cat = {}
        for s in segs:
            by_cat.setdefault(s["category_id"], []).append(s["id"])
        for group in by_cat.values():
            for other in group[1:]:
                ids[ids == other] = group[0]
    elif kind == "split":
        fresh = int(ids.max()) + 1
        for s in segs:
            ys, xs = np.nonzero(ids == s["id"])
            if len(xs) > 1:
                right = xs > np.median(xs)
                ids[ys[right], xs[right]] = fresh
                fresh += 1
    elif kind == "shift":
        ids = np.roll(ids, (7, -11), axis=(0, 1))
    elif kind == "void":
        h, w = ids.shape
        ids[h // 4: h // 2, :] = 0
        ids[:, w // 3: w // 3 + 40] = 0
    elif kind == "crowd":
        # One prediction covering each crowd region and a bit around it.
        fresh = int(ids.max()) + 1
        for s in segments:
            if s.get("iscrowd", 0):
                m = ids == s["id"]
                m = m | np.roll(m, 5, axis=1)
                ids[m] = fresh
                fresh += 1
    elif kind == "recategorise":
        pass
    else:
        raise ValueError(kind)
    out = segments_from(ids, segments, rng)
    if kind == "crowd":
        crowd_cats = {s["id"]: s["category_id"] for s in segments if s.get("iscrowd", 0)}
        for s, cat in zip([s for s in out if s["id"] > max(x["id"] for x in segments)], crowd_cats.values()):
            s["category_id"] = cat
    if kind == "recategorise":
        for s in out[::2]:
            s["category_id"] = segments[0]["category_id"] if s["category_id"] != segments[0]["category_id"] else segments[-1]["category_id"]
    return ids, out


KINDS = ["identity", "drop", "merge", "split", "shift", "void", "crowd", "recategorise"]


def make_sets(gt_json, gt_dir, out_root, seed=0):
    """Writes out_root/<kind>.json + out_root/<kind>/ for every kind; returns the kinds."""
    with open(gt_json) as f:
        gt = json.load(f)
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        folder = os.path.join(out_root, kind)
        os.makedirs(folder, exist_ok=True)
        pred = copy.deepcopy(gt)
        for ann in pred["annotations"]:
            ids = codec.read_ids(os.path.join(gt_dir, ann["file_name"]), np.uint32)
            new_ids, segs = perturb(ids, ann["segments_info"], kind, rng)
            codec.write_ids(new_ids, os.path.join(folder, ann["file_name"]))
            ann["segments_info"] = segs
        with open(os.path.join(out_root, f"{kind}.json"), "w") as f:
            json.dump(pred, f)
    return KINDS
