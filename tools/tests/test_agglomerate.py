"""Learned agglomeration (tools/train/agglomerate.py): the region graph's bookkeeping, the oracle,
and a whole run on the miniature data root with random weights."""
import shutil

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from segtools import testing
from segtools.codec import write_ids
from segtools.reference import hed
from segtools.train import agglomerate as ag


def stripes(gt=(5, 5, 7)):
    """Three vertical regions 1 | 2 | 3 of a 4 x 6 map; regions 1 and 2 are ground-truth segment
    `gt[0]` and `gt[1]`, region 3 `gt[2]`."""
    regions = np.repeat(np.array([[1, 1, 2, 2, 3, 3]], np.int32), 4, 0)
    n, deep = 3, sum(ag.DEEP_CHANNELS)
    rng = np.random.default_rng(0)
    ids = sorted(set(gt))
    counts = np.zeros((n, len(ids)), np.int64)
    for r, g in enumerate(gt):
        counts[r, ids.index(g)] = 8
    return dict(regions=regions, area=np.full(n, 8.0), lab=rng.random((n, 3)) * 8, lab2=rng.random((n, 3)) * 80,
                inside=rng.random(n), deep=rng.random((n, deep)), cells=np.ones(n),
                lo=np.array([0] * 4 + [1] * 4, np.int32), hi=np.array([1] * 4 + [2] * 4, np.int32),
                v=np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], np.float32), s=np.full((5, 8), 0.5, np.float32),
                gt=counts, gt_ids=np.array(ids))


def test_merging_adds_sums_and_joins_boundaries():
    stats = stripes()
    graph = ag.Graph(stats)
    assert set(graph.edges) == {(0, 1), (1, 2)}
    assert graph.features(list(graph.edges)).shape == (2, ag.FEATURES)
    graph.merge(0, 1)
    assert set(graph.edges) == {(0, 2)} and graph.adj[0] == {2} and graph.adj[2] == {0}
    assert graph.nodes["area"][0] == 16
    np.testing.assert_allclose(graph.nodes["deep"][0], stats["deep"][0] + stats["deep"][1])
    np.testing.assert_allclose(graph.edges[(0, 2)][0], [0.5, 0.6, 0.7, 0.8])
    x = graph.features([(0, 2)])[0]
    assert np.isclose(x[0], np.log(4)) and np.isclose(x[1], 0.65) and np.isclose(x[13], np.log(8)) and np.isclose(x[14], np.log(16))
    assert np.array_equal(graph.labels(), np.repeat(np.array([[1, 1, 1, 1, 3, 3]]), 4, 0))


def test_the_oracle_merges_only_one_segment_and_collects_labels():
    collected = []
    graph = ag.agglomerate(ag.Graph(stripes()), lambda x: np.ones(len(x)), 0.5, oracle=True, collect=collected)
    assert len(np.unique(graph.labels())) == 2
    assert [y for _, y, _ in collected] == [1.0, 0.0, 0.0]  # the two pairs, then the merged region's one
    # A score under the threshold merges nothing.
    graph = ag.agglomerate(ag.Graph(stripes()), lambda x: np.full(len(x), 0.2), 0.5)
    assert len(np.unique(graph.labels())) == 3


def test_a_models_votes_add_three_features_and_merge():
    # The model puts regions 1 and 2 in its segment 4 (region 2 half void), region 3 in segment 9.
    votes, values = ag.id_counts(stripes()["regions"], np.repeat(np.array([[4, 4, 0, 4, 9, 9]]), 4, 0))
    assert votes.tolist() == [[0, 8, 0], [4, 4, 0], [0, 0, 8]] and values.tolist() == [0, 4, 9]
    graph = ag.Graph(dict(stripes(), votes=votes))
    x = graph.features([(0, 1), (1, 2)])
    assert x.shape == (2, ag.FEATURES + len(ag.VOTE_FEATURES))
    np.testing.assert_allclose(x[:, ag.FEATURES:], [[1, 1, 0.5], [0, 0, 0.5]])
    graph.merge(0, 1)
    np.testing.assert_allclose(graph.features([(0, 2)])[0, ag.FEATURES:], [0, 0, 0.25])


def test_class_probabilities_add_six_features_and_merge():
    # Regions 1 and 2 lean to person (class 15), region 3 to background.
    semantic = np.zeros((3, 21))
    semantic[0, [0, 15]] = [2, 6]
    semantic[1, [0, 15, 12]] = [1, 5, 2]
    semantic[2, [0, 12]] = [6, 2]
    graph = ag.Graph(dict(stripes(), semantic=semantic))
    x = graph.features([(0, 1), (1, 2)])
    assert x.shape == (2, ag.FEATURES + len(ag.SEMANTIC_FEATURES))
    np.testing.assert_allclose(x[:, ag.FEATURES:], [[0.125 + 0.625, 1, 0.125, 0.25, 0.625, 0.75],
                                                     [0.125 + 0.25, 0, 0.125, 0.75, 0.25, 0.625]])
    graph.merge(0, 1)  # the merged region: background 3/16, person 11/16, dog 2/16
    np.testing.assert_allclose(graph.features([(0, 2)])[0, ag.FEATURES:], [3 / 16 + 2 / 16, 0, 3 / 16, 0.75, 0.25, 11 / 16])


def test_void_pairs_are_unknown_in_panoptic_images_only():
    graph = ag.Graph(stripes(gt=(0, 5, 5)), panoptic=True)
    assert not graph.truth(0, 1)[1] and graph.truth(1, 2) == (1.0, True, 1.0)
    assert ag.Graph(stripes(gt=(0, 5, 5)), panoptic=False).truth(0, 1) == (0.0, True, 1.0)


def test_trains_and_scores_the_dev_val_and_cross_validation(tmp_path):
    """A whole run on the miniature data root, its grey stand-in images replaced by photos so that
    random HED weights still find edges, with a 2 x 2 grid as the model's votes and random
    ESPNetv2 weights for the class probabilities."""
    root = tmp_path / "data"
    shutil.copytree(testing.DATA, root)
    photos = [Image.open(p).convert("RGB") for p in testing.PHOTOS]
    (tmp_path / "votes" / "panoptic").mkdir(parents=True)
    for k, path in enumerate(sorted(root.rglob("*.jpg"))):
        width, height = Image.open(path).size
        photos[k % len(photos)].resize((width, height)).save(path)
        grid = 1 + (np.arange(height)[:, None] * 2 // height) * 2 + np.arange(width)[None, :] * 2 // width
        write_ids(grid.astype(np.int32), str(tmp_path / "votes" / "panoptic" / (path.stem + ".png")))
    torch.manual_seed(0)
    edges = tmp_path / "edges.safetensors"
    save_file({k: v.half().contiguous() for k, v in hed.HED().state_dict().items()}, str(edges))
    inputs = testing.random_weights(tmp_path / "inputs")
    report = ag.main(["--work", str(tmp_path / "work"), "--edges", str(edges), "--inputs", inputs, "--data-root", str(root),
                      "--resolution", "96", "--sigma", "0", "--h", "0.001", "--min-area", "0", "--steps", "20", "--rounds", "1", "--thresholds", "0.5",
                      "--votes", str(tmp_path / "votes"), "--semantic", "--val"])
    assert report["pairs"] > 0 and report["settings"]["votes"] and report["settings"]["semantic"]
    for kind in ("panoptic", "things"):
        assert 0 <= report["dev"][kind]["0.5"]["pq"] <= 100
        assert 0 <= report["val"][kind]["pq"] <= 100
    assert report["val"]["threshold"] == 0.5
    assert list((tmp_path / "work").glob("*/merger.pt"))
    # Cross-validation over the same training images, from the cached statistics.
    report = ag.main(["--work", str(tmp_path / "work"), "--edges", str(edges), "--inputs", inputs, "--data-root", str(root),
                      "--resolution", "96", "--sigma", "0", "--h", "0.001", "--min-area", "0", "--steps", "20", "--rounds", "0",
                      "--thresholds", "0.5", "--semantic", "--folds", "2"])
    assert report["settings"]["folds"] == 2 and report["cv"]
    for scores in report["cv"].values():
        assert scores["images"] > 0 and 0 <= scores["edge_prior"]["pq"] <= 100 and 0 <= scores["0.5"]["pq"] <= 100
    # A learnt boundary map (boundary_head.py) as features, then as the regions' watershed too.
    from segtools.train import boundary_head as bh
    common = ["--work", str(tmp_path / "boundary"), "--inputs", inputs, "--data-root", str(root), "--resolution", "96", "--val"]
    bh.main(["features", "--edges", str(edges), *common])
    bh.main(["train", "--steps", "3", *common])
    bh.main(["apply", *common])
    maps = tmp_path / "boundary" / "maps"
    assert len(list(maps.glob("val-things-*.npy"))) == len(ag.val_samples(str(root), "things"))
    for extra in ([], ["--boundary-regions"]):
        report = ag.main(["--work", str(tmp_path / "work"), "--edges", str(edges), "--inputs", inputs, "--data-root", str(root),
                          "--resolution", "96", "--sigma", "0", "--h", "0.001", "--min-area", "0", "--steps", "20", "--rounds", "0",
                          "--thresholds", "0.5", "--boundary", str(maps), *extra, "--folds", "2"])
        assert report["settings"]["boundary"] and all(0 <= v["0.5"]["pq"] <= 100 for v in report["cv"].values())
    assert list((tmp_path / "work").glob("*-learnt"))


def test_a_learnt_boundary_adds_five_features_and_merges():
    # The learnt map rises by 0.1 a column and 0.01 a row; a boundary pixel pair takes its larger value.
    learnt = np.arange(6)[None, :] * 0.1 + np.arange(4)[:, None] * 0.01
    graph = ag.Graph(dict(stripes(), learnt=learnt))
    x = graph.features([(0, 1), (1, 2)])
    assert x.shape == (2, ag.FEATURES + len(ag.BOUNDARY_FEATURES))
    np.testing.assert_allclose(x[0, ag.FEATURES:], [0.215, 0.23, 0.2, 0.22, 0.23], atol=1e-6)
    np.testing.assert_allclose(x[1, ag.FEATURES:], [0.415, 0.43, 0.4, 0.42, 0.43], atol=1e-6)
    graph.merge(0, 1)
    assert set(graph.learnt) == {(0, 2)}
    np.testing.assert_allclose(graph.features([(0, 2)])[0, ag.FEATURES:], [0.415, 0.43, 0.4, 0.42, 0.43], atol=1e-6)


def test_boundary_targets_heads_and_cross_fitting():
    from segtools.train import boundary_head as bh
    ids = np.zeros((6, 6), np.int32)
    ids[:, :3], ids[:, 3:5] = 1, 2  # column 5 void
    for panoptic in (True, False):
        y = bh.target(ids, ids.shape, panoptic)
        assert (y[:, :2] == 0).all() and (y[:, 2:4] == 1).all()
        # Next to void: unknown where void is unlabelled (panoptic), a boundary where it is "no object".
        assert (y[:, 4:] == (bh.UNKNOWN if panoptic else 1)).all()
    head = bh.BoundaryHead()
    logits = head(torch.zeros(2, bh.CHANNELS, 16, 16))
    assert logits.shape == (2, 16, 16)
    loss = bh.balanced_loss(logits, torch.from_numpy(np.stack([bh.target(np.kron(ids, np.ones((3, 3), np.int32))[:16, :16], (16, 16), True)] * 2)).long())
    assert torch.isfinite(loss) and loss > 0
    # No training image is mapped by a head that learnt from it.
    train = [f"image{k}" for k in range(7)]
    heads = dict(bh.cross_fit(train))
    assert all(image not in heads[bh.head_for(k, "train")] for k, image in enumerate(train))
    assert all(len(heads[f"head{p}"]) >= 3 for p in (0, 1)) and bh.head_for(0, "val-things") == "head-all"
