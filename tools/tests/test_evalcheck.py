"""`segserve eval` agrees with panopticapi to 1e-9 on panoptic ground truth and its perturbations."""
import json
import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from segtools.evalcheck import perturb
from segtools.testing import DATA

# COCO panoptic ground truth, things and stuff (a fixture set in the data sets' own layout).
SAMPLES = os.path.join(DATA, "panoptic-train", "cocostuff-taming-val")
GT_JSON = os.path.join(SAMPLES, "panoptic.json")
GT_DIR = os.path.join(SAMPLES, "panoptic")
BINARY = os.path.join(REPO, ".build", "debug", "segserve")


def panopticapi_scores(gt_json, gt_dir, pred_json, pred_dir, class_agnostic):
    from panopticapi.evaluation import pq_compute_single_core
    with open(gt_json) as f:
        gt = json.load(f)
    with open(pred_json) as f:
        pred = json.load(f)
    categories = {c["id"]: c for c in gt["categories"]}
    if class_agnostic:
        categories = {1: {"id": 1, "isthing": 1, "name": "object"}}
        for data in (gt, pred):
            for ann in data["annotations"]:
                for s in ann["segments_info"]:
                    s["category_id"] = 1
    by_image = {a["image_id"]: a for a in pred["annotations"]}
    stat = pq_compute_single_core(0, [(a, by_image[a["image_id"]]) for a in gt["annotations"]], gt_dir, pred_dir, categories)
    out = {}
    for name, isthing in [("All", None), ("Things", True), ("Stuff", False)]:
        if not any((c["isthing"] == 1) == isthing for c in categories.values()) and isthing is not None:
            out[name] = None  # panopticapi divides by zero here
            continue
        out[name] = stat.pq_average(categories, isthing)[0]
    return out


def ours(pred_json, pred_dir, class_agnostic):
    cmd = [BINARY, "eval", "--gt-json", GT_JSON, "--gt-dir", GT_DIR, "--pred-json", pred_json, "--pred-dir", pred_dir,
           "--json", "-"] + (["--class-agnostic"] if class_agnostic else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


@pytest.mark.parametrize("class_agnostic", [False, True])
def test_agrees_with_panopticapi(tmp_path, class_agnostic):
    assert os.path.exists(BINARY), "build the package first (make test does)"
    kinds = perturb.make_sets(GT_JSON, GT_DIR, str(tmp_path))
    for kind in kinds:
        pred_json, pred_dir = str(tmp_path / f"{kind}.json"), str(tmp_path / kind)
        ref = panopticapi_scores(GT_JSON, GT_DIR, pred_json, pred_dir, class_agnostic)
        got = ours(pred_json, pred_dir, class_agnostic)
        for group in ("All", "Things", "Stuff"):
            if ref[group] is None:
                assert got[group]["n"] == 0
                continue
            for metric in ("pq", "sq", "rq"):
                assert abs(got[group][metric] - ref[group][metric]) <= 1e-9, (kind, group, metric, got[group], ref[group])
            assert got[group]["n"] == ref[group]["n"], (kind, group)
        if kind == "identity" and not class_agnostic:
            # Class-agnostic, panopticapi keeps one crowd region per category, so other crowd
            # regions predicted as segments count as false positives there.
            assert abs(got["All"]["pq"] - 1.0) < 1e-12


def test_bad_predictions_are_named(tmp_path):
    perturb.make_sets(GT_JSON, GT_DIR, str(tmp_path))
    with open(tmp_path / "identity.json") as f:
        pred = json.load(f)
    dropped = pred["annotations"][0]["segments_info"].pop()
    with open(tmp_path / "broken.json", "w") as f:
        json.dump(pred, f)
    result = subprocess.run([BINARY, "eval", "--gt-json", GT_JSON, "--gt-dir", GT_DIR, "--pred-json",
                             str(tmp_path / "broken.json"), "--pred-dir", str(tmp_path / "identity")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert str(dropped["id"]) in result.stderr and pred["annotations"][0]["file_name"] in result.stderr
