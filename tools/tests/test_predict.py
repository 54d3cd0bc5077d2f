"""`segserve predict` with a semantic map: segments take the voted category, stuff merges; scores
and the uncertainty map from the command line."""
import json
import os
import re
import subprocess

import numpy as np
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from segtools.codec import read_ids

BINARY = os.path.join(REPO, ".build", "debug", "segserve")
TINY_MODEL = os.path.join(REPO, "Tests", "LDMSegTests", "Fixtures", "tiny_model")


def predict(tmp_path, name, *extra):
    out = tmp_path / name
    subprocess.run([BINARY, "predict", "--model", TINY_MODEL, "--images", str(tmp_path / "images"), "--out", str(out),
                    "--ensemble-seeds", "1", "--no-flip", *extra], check=True, capture_output=True)
    entry = json.loads((out / "predictions.json").read_text())["annotations"][0]
    return entry, read_ids(out / "panoptic" / "7.png")


def test_semantic_map_categorises_and_merges_stuff(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "semantic").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "images" / "7.png")
    plain, plain_ids = predict(tmp_path, "plain", "--count-th", "0", "--overlap-th", "0")
    assert len(plain["segments_info"]) >= 2, "the tiny model should give several segments"

    # Every pixel votes for the stuff class "wall": all segments become one, with its category.
    Image.fromarray(np.full((48, 64), 1, dtype=np.uint8)).save(tmp_path / "semantic" / "7.png")
    categories = [{"id": 3, "name": "person", "isthing": 1}, {"id": 171, "name": "wall", "isthing": 0}]
    (tmp_path / "categories.json").write_text(json.dumps(categories))
    entry, ids = predict(tmp_path, "categorised", "--count-th", "0", "--overlap-th", "0",
                         "--semantic-dir", str(tmp_path / "semantic"), "--categories", str(tmp_path / "categories.json"))
    [segment] = entry["segments_info"]
    assert segment["category_id"] == 171
    assert np.array_equal(ids != 0, plain_ids != 0) and set(np.unique(ids)) <= {0, segment["id"]}
    assert segment["area"] == int((ids != 0).sum())
    ys, xs = np.nonzero(ids)
    assert segment["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    assert 0 <= segment["score"] <= 1, "a merged segment keeps a score: the mean of what it took over"


def test_scores_survive_a_resumed_run_and_the_cli_writes_the_uncertainty_map(tmp_path):
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "images" / "7.png")
    first, _ = predict(tmp_path, "out", "--count-th", "0", "--overlap-th", "0")
    assert first["segments_info"] and all(0 <= s["score"] <= 1 for s in first["segments_info"])
    resumed, _ = predict(tmp_path, "out", "--count-th", "0", "--overlap-th", "0")
    assert resumed == first, "a resumed run reads the scores it wrote"

    out = tmp_path / "segment"
    run = subprocess.run([BINARY, "segment", "--model", TINY_MODEL, str(tmp_path / "images" / "7.png"), "--out", str(out),
                          "--uncertainty", str(out / "uncertainty.png"), "--min-score", "0.0001"], check=True, capture_output=True)
    # Progress rewritten in place is for terminals: a pipe gets the last step on a line of its own.
    assert re.fullmatch(r"segment: step (\d+)/\1\n", run.stderr.decode()), run.stderr
    grey = Image.open(out / "uncertainty.png")
    assert grey.size == (64, 48) and grey.mode == "L"
    annotation = json.loads((out / "segments.json").read_text())
    assert annotation["scores"]["features"][0] == "confidence" and all(s["score"] >= 0.0001 for s in annotation["segments_info"])
