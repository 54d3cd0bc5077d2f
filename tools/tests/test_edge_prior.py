"""The edge-prior baseline on synthetic edge maps (no data, no trained weights): a ridge splits
two basins, small regions become void, shallow basins merge; and HED keeps odd input sizes."""
import os

import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.reference import hed
from segtools.train import edge_prior
from segtools.train.edge_prior import Settings


def two_basins(depth=0.9, height=40, width=80):
    """Low edge probability on both halves, a ridge of `depth` above them down the middle."""
    prob = np.full((height, width), 0.05)
    prob[:, width // 2 - 1:width // 2 + 1] = 0.05 + depth
    return prob


def test_a_ridge_between_two_basins_gives_two_regions():
    ids = edge_prior.segment(two_basins(), (40, 80), Settings(sigma=1.0, h=0.4, min_area=0))
    left, right = ids[:, :30], ids[:, 50:]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1
    assert left[0, 0] != right[0, 0] and 0 not in (left[0, 0], right[0, 0])
    assert len(np.unique(ids)) == 2


def test_labels_come_back_at_the_original_size_and_small_regions_are_void():
    prob = two_basins(width=80)
    prob[:, 70:72] = 0.95  # a thin third region at the right edge: 8 columns
    ids = edge_prior.segment(prob, (80, 160), Settings(sigma=1.0, h=0.4, min_area=0))
    assert ids.shape == (80, 160) and len(np.unique(ids)) == 3
    ids = edge_prior.segment(prob, (80, 160), Settings(sigma=1.0, h=0.4, min_area=80 * 40))
    assert ids.shape == (80, 160) and len(np.unique(ids[ids != 0])) == 2
    assert (ids[:, 150:] == 0).all() and (ids[:, :60] != 0).all()


def test_h_minima_merge_basins_shallower_than_h():
    prob = np.full((40, 90), 0.05)
    prob[:, 29:31] = 0.95  # a deep ridge: left | middle
    prob[:, 59:61] = 0.35  # a shallow one: middle | right, whose floor is a little higher
    prob[:, 61:] = 0.12
    columns = lambda ids: [int(ids[0, c]) for c in (10, 45, 80)]
    split = edge_prior.segment(prob, prob.shape, Settings(h=0.1, min_area=0))
    assert len(np.unique(split)) == 3 and len(set(columns(split))) == 3
    merged = edge_prior.segment(prob, prob.shape, Settings(h=0.4, min_area=0))
    assert len(np.unique(merged)) == 2 and 0 not in merged
    a, b, c = columns(merged)
    assert a != b and b == c


def test_an_image_flatter_than_h_is_one_region():
    ids = edge_prior.segment(np.full((20, 30), 0.3), (20, 30), Settings(h=0.4, min_area=0))
    assert (ids == 1).all()


def test_edge_prior_maps_reuse_the_probability_of_each_image(tmp_path):
    from PIL import Image
    torch.manual_seed(0)
    rgb = np.zeros((45, 60, 3), dtype=np.uint8)
    rgb[:, 30:] = (200, 180, 20)
    path = str(tmp_path / "halves.png")
    Image.fromarray(rgb).save(path)
    edges = edge_prior.Edges(hed.HED())
    images = [(path, np.zeros((45, 60), dtype=np.int32))]
    (a,) = edge_prior.edge_prior_maps(images, Settings(resolution=32, min_area=0), edges)
    (b,) = edge_prior.edge_prior_maps(images, Settings(resolution=32, min_area=10 ** 6), edges)
    assert a.shape == b.shape == (45, 60) and a.min() >= 1 and not b.any()
    assert len(edges.cache) == 1 and len(edges.seconds) == 1
    assert next(iter(edges.cache.values())).shape == (24, 32)  # longest side 32


def test_hed_keeps_odd_sizes():
    torch.manual_seed(0)
    model = hed.HED().eval()
    x = hed.preprocess(torch.rand(1, 3, 37, 45) * 255)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (1, 1, 37, 45)
    assert ((out >= 0) & (out <= 1)).all()
