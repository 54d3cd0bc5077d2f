#!/usr/bin/env python3
"""Segment scores of a model directory: calibration on training images, then the measures on val.

Each predicted segment is right when its IoU with a ground-truth segment is over 0.5, void
pixels left out as panopticapi leaves them out (a segment mostly on void counts for neither).
The score `segserve` gives a segment (`score` in segments.json) is ranked against that: ROC AUC,
the fraction right per score decile (calibration), and PQ with and without dropping segments
under `min_score`. Two kinds of jobs are scored: the model's default ensemble and a single run.

`--calibrate` fits, on training images (by default the dev split, held out of training:
`dev-panoptic`, `dev-things`; or any training sets the model did not learn from, such as
`cocostuff-taming-train instances:coco128` for the default model), a logistic map from each kind's uncalibrated score (one run: the mean confidence
c; an ensemble: (c + a) / 2 with a the runs' agreement) to P(right), chooses the `min_score`
that maximises the mean dev PQ, and with `--write` stores the coefficients in the model's
config.json (`scoring`). `--splits` names what to measure (the val kinds `things` and
`panoptic` to report; never chosen on).

    python3 tools/train/scores.py --model models/default --calibrate --write [--splits cocostuff-taming-train instances:coco128]
    python3 tools/train/scores.py --model models/default --splits things panoptic --min-score 0.3 --json out.json
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from segtools.codec import read_ids
from segtools.train import data, evaluate

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The kinds of job scored: the model's default ensemble, and one run.
KINDS = {"ensemble": [], "single": ["--ensemble-seeds", "1", "--no-flip"]}


def predict(binary, model, images, tmp, extra, threads=2):
    """`segserve predict` over `images`: per image (id map, segments_info), and seconds per image."""
    folder = evaluate.linked_images(images, tmp)
    out = os.path.join(tmp, "predict-" + "-".join(extra or ["default"]))
    start = time.time()
    subprocess.run([binary, "predict", "--model", model, "--images", folder, "--out", out, "--threads", str(threads)] + extra,
                   check=True, capture_output=True)
    seconds = (time.time() - start) / max(1, len(images))
    with open(os.path.join(out, "predictions.json")) as f:
        by_file = {a["file_name"]: a["segments_info"] for a in json.load(f)["annotations"]}
    stem = lambda p: os.path.splitext(os.path.basename(p))[0] + ".png"
    return [(read_ids(os.path.join(out, "panoptic", stem(p))), by_file[stem(p)]) for p, _ in images], seconds


def judged(pred, segments, gt):
    """(score, right) of each predicted segment against the ground-truth id map (0 void)."""
    void = gt == 0
    out = []
    for s in segments:
        mask = pred == s["id"]
        area = int(mask.sum())
        on_void = int((mask & void).sum())
        if area == 0 or on_void > area / 2:
            continue
        best = 0.0
        for g in np.unique(gt[mask & ~void]):
            truth = gt == g
            inter = int((mask & truth).sum())
            best = max(best, inter / (area - on_void + int(truth.sum()) - inter))
        out.append((s.get("score", 0.0), best > 0.5))
    return out


def auc(pairs):
    """ROC AUC of the scores for right against wrong segments (ties count half)."""
    scores = np.array([s for s, _ in pairs], dtype=np.float64)
    right = np.array([r for _, r in pairs], dtype=bool)
    if right.all() or not right.any():
        return float("nan")
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks of ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = right.sum(), (~right).sum()
    return float((ranks[right].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def deciles(pairs):
    """Per score decile [lo, hi): segments and the fraction right."""
    rows = []
    for k in range(10):
        inside = [r for s, r in pairs if k / 10 <= s < (k + 1) / 10 or (k == 9 and s == 1.0)]
        rows.append({"scores": f"{k / 10:.1f}-{(k + 1) / 10:.1f}", "segments": len(inside),
                     "right": round(sum(inside) / len(inside), 3) if inside else None})
    return rows


def fit_logistic(x, y, iterations=50):
    """(bias, weight) of P(y) = sigmoid(bias + weight x), by Newton's method (a tiny ridge keeps it finite)."""
    X = np.stack([np.ones_like(x), x], axis=1)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y) + 1e-3 * w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-3 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    return float(w[0]), float(w[1])


def dropped(pred, segments, min_score):
    """The id map without the segments scored under `min_score`."""
    low = [s["id"] for s in segments if s.get("score", 1.0) < min_score]
    return np.where(np.isin(pred, low), 0, pred) if low else pred


def pq(images, maps):
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        gt_json, gt_dir = evaluate.write_set(tmp, "gt", images, [ids for _, ids in images])
        pred_json, pred_dir = evaluate.write_set(tmp, "pred", images, maps)
        return evaluate.pq(gt_json, gt_dir, pred_json, pred_dir)


def load(data_root, split):
    """`evaluate.load_images`' splits, and `instances:<set>`: one coco-instances set's train2017 images."""
    if split.startswith("instances:"):
        return data.load_splits(data_root, "train2017", sources=(split[len("instances:"):],))
    return evaluate.load_images(data_root, split)


def measure(args, split, kind, tmp, thresholds):
    images = load(args.data_root, split)[:args.limit or None]
    results, seconds = predict(args.binary, args.model, images, os.path.join(tmp, split), KINDS[kind], args.threads)
    pairs = [p for (pred, segs), (_, gt) in zip(results, images) for p in judged(pred, segs, gt)]
    row = {"split": split, "kind": kind, "images": len(images), "seconds_per_image": round(seconds, 3),
           "segments": len(pairs), "right": int(sum(r for _, r in pairs)), "auc": round(auc(pairs), 3),
           "deciles": deciles(pairs)}
    row["pq"] = {f"{t:g}": {k: round(v, 2) for k, v in pq(images, [dropped(p, s, t) for p, s in results]).items()}
                 for t in sorted({0.0, *thresholds})}
    row["pairs"] = pairs
    return row


def uncalibrated(model, tmp):
    """`model` as a directory without its `scoring`: links to its files, config.json rewritten."""
    copy = os.path.join(tmp, "uncalibrated-model")
    os.makedirs(copy, exist_ok=True)
    for name in os.listdir(model):
        if name != "config.json":
            os.symlink(os.path.abspath(os.path.join(model, name)), os.path.join(copy, name))
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)
    config.pop("scoring", None)
    with open(os.path.join(copy, "config.json"), "w") as f:
        json.dump(config, f)
    return copy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "segserve"))
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--splits", nargs="+", default=["dev-panoptic", "dev-things"])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--calibrate", action="store_true", help="fit the calibration and choose min_score on --splits (training images only)")
    ap.add_argument("--write", action="store_true", help="with --calibrate: store the calibration in the model's config.json")
    ap.add_argument("--min-score", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                    help="thresholds PQ is measured at (besides 0)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images per split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the report here")
    args = ap.parse_args(argv)
    if args.calibrate and any(s in ("things", "panoptic", "val2017", "cocostuff-taming-val") for s in args.splits):
        sys.exit("calibration is chosen on training images only (the dev splits), never on val")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if args.calibrate:  # fitted on the raw scores, whatever the model's calibration now
            args.model = uncalibrated(model, tmp)
        for split in args.splits:
            for kind in args.kinds:
                rows.append(measure(args, split, kind, tmp, args.min_score))
                r = rows[-1]
                print(f"{split} {kind}: {r['segments']} segments, {r['right']} right, AUC {r['auc']}, "
                      f"PQ {r['pq']['0']['pq']} -> " + ", ".join(f"{t}: {v['pq']}" for t, v in r["pq"].items() if t != "0"),
                      file=sys.stderr)
        args.model = model
    report = {"model": args.model, "rows": [{k: v for k, v in r.items() if k != "pairs"} for r in rows]}
    if args.calibrate:
        calibration = {}
        for kind in args.kinds:
            pairs = [p for r in rows if r["kind"] == kind for p in r["pairs"]]
            bias, weight = fit_logistic(np.array([s for s, _ in pairs]), np.array([float(r) for _, r in pairs]))
            calibration[kind] = [round(bias, 4), round(weight, 4)] if kind == "single" else \
                [round(bias, 4), round(weight / 2, 4), round(weight / 2, 4)]
        report["calibration"] = calibration
        kind = "ensemble" if "ensemble" in calibration else "single"
        mean_pq = {t: np.mean([r["pq"][t]["pq"] for r in rows if r["kind"] == kind]) for t in rows[0]["pq"]}
        best = float(max(mean_pq, key=mean_pq.get))
        # The same cut on the calibrated scale, which is what jobs see.
        bias, weight = calibration[kind][0], calibration[kind][1] * (2 if kind == "ensemble" else 1)
        report["min_score"] = round(float(1 / (1 + np.exp(-(bias + weight * best)))), 3) if best > 0 else 0.0
        print(f"calibration {calibration}; best min_score for the {kind} {best} uncalibrated, {report['min_score']} "
              f"calibrated (mean dev PQ by threshold {mean_pq})", file=sys.stderr)
        if args.write:
            path = os.path.join(args.model, "config.json")
            with open(path) as f:
                config = json.load(f)
            config["scoring"] = {"single": calibration.get("single", [0.0, 1.0]), "ensemble": calibration.get("ensemble", [0.0, 0.5, 0.5])}
            with open(path, "w") as f:
                json.dump(config, f, indent=2)
                f.write("\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if args.calibrate:
        print(json.dumps({"calibration": report["calibration"], "min_score": report["min_score"]}))


if __name__ == "__main__":
    main()
