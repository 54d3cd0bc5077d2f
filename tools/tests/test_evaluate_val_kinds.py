"""evaluate.py on both val kinds: the things val (coco-instances val2017 of the fully annotated
sets) and the panoptic val (cocostuff-taming-val, things and stuff), the --report table over
both, and the edge_prior row."""
import argparse
import os

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.train import evaluate
from segtools.testing import DATA


def args(**kw):
    base = dict(model=os.path.join(REPO, "models", "default"), data_root=DATA, limit=0, extra=[],
                scorer="panopticapi", batch=False, steps=0, inpaint_known=0.0, binary="unused")
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture(scope="module")
def panoptic():
    return evaluate.load_images(DATA, "panoptic")


def test_both_val_kinds_load(panoptic):
    # A miniature data root (Tests/Fixtures/data).
    assert len(panoptic) == 2 and all(p.endswith(".jpg") and os.path.exists(p) for p, _ in panoptic)
    assert all("cocostuff-taming-val" in p for p, _ in panoptic)
    assert all(len(np.unique(ids)) > 2 for _, ids in panoptic)  # stuff and things
    things = evaluate.load_images(DATA, "things")
    assert len(things) == 4 and all("/val2017/" in p for p, _ in things)
    assert not any("-partial" in p for p, _ in things)


def test_autoencoded_panoptic_val_beats_the_baselines(panoptic):
    scores = evaluate.score(args(), panoptic[:2], autoencoded=True)
    assert scores["images"] == 2 and set(scores["model"]) == {"pq", "sq", "rq"}
    assert scores["model"]["pq"] > max(scores["one_segment"]["pq"], scores["grid_2x2"]["pq"])


def test_report_scores_every_task_on_both_kinds(monkeypatch, capsys):
    calls = []

    def fake_score(a, images, inpaint_known=0.0, autoencoded=False):
        calls.append((len(images), inpaint_known, autoencoded))
        return {name: {"pq": 1.0, "sq": 2.0, "rq": 3.0} for name in ("model", "one_segment", "grid_2x2", "edge_prior")}

    monkeypatch.setattr(evaluate, "score", fake_score)
    monkeypatch.setattr(evaluate, "load_images", lambda root, kind: [("x.jpg", np.ones((2, 2)))] * 5)
    out = evaluate.report(args(limit=3))
    assert list(out) == ["things", "panoptic"] and list(out["panoptic"]) == ["segment", "inpaint_0.5", "autoencoded"]
    assert calls == [(3, 0.0, False), (3, 0.5, False), (3, 0.0, True)] * 2
    err = capsys.readouterr().err
    assert "| panoptic (3) | inpaint_0.5 | grid_2x2 | 1.0 | 2.0 | 3.0 |" in err
    assert "| things (3) | autoencoded | edge_prior | 1.0 | 2.0 | 3.0 |" in err


def test_edge_prior_row_beside_the_baselines(panoptic, tmp_path, monkeypatch):
    """Random-weight HED weights on disk: the row is scored; without weights it is skipped."""
    import torch
    from safetensors.torch import save_file
    from segtools.reference.hed import HED
    from segtools.train import edge_prior
    torch.manual_seed(0)
    path = str(tmp_path / "edges.safetensors")
    save_file({k: v.half() for k, v in HED().state_dict().items()}, path)
    monkeypatch.setattr(evaluate, "EDGE_SETTINGS", edge_prior.Settings(resolution=64))
    monkeypatch.setattr(evaluate, "_EDGES", {})
    scores = evaluate.score(args(baselines_only=True, edges=path), panoptic[:2])
    assert "model" not in scores and set(scores["edge_prior"]) == {"pq", "sq", "rq"}
    assert len(evaluate._EDGES[path].cache) == 2
    scores = evaluate.score(args(baselines_only=True, model=str(tmp_path / "none")), panoptic[:2])
    assert "edge_prior" not in scores and "skipped" in scores["notes"][0]
