"""evaluate.py helpers: the inpainting split of instances, and the deduplicated val set."""
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.train import data
from segtools.train import evaluate
from segtools.testing import DATA


def test_known_instances_keeps_whole_instances_of_the_given_fraction():
    ids = np.repeat(np.arange(11), 10).reshape(10, 11)  # ids 0..10, 0 = void
    known = evaluate.known_instances(ids, 0.5, seed=3)
    kept = [v for v in np.unique(known) if v != 0]
    assert len(kept) == 5
    for v in kept:  # every kept instance is complete, and nothing else is there
        assert np.array_equal(known == v, ids == v)
    assert np.array_equal(known, evaluate.known_instances(ids, 0.5, seed=3))
    assert not evaluate.known_instances(ids, 0.0, seed=3).any()


def test_val_images_are_listed_once():
    # A miniature data root: 000000435206.jpg is in coco-mini and coco-tiny.
    names = [os.path.basename(p) for p, _ in data.load_splits(DATA, "val2017")]
    assert names == ["000000000139.jpg", "000000435206.jpg", "000000005001.jpg"]  # coco-mini, then coco-tiny
    names = [os.path.basename(p) for p, _ in data.load_splits(DATA, "val2017", sources=None)]
    assert names == ["000000000139.jpg", "000000435206.jpg", "000000005001.jpg", "000000006818.jpg"]  # and lizhogn


def test_autoencoded_ground_truth_comes_back_through_the_default_model():
    ids = np.zeros((160, 224), dtype=np.int32)  # void border, two large instances
    ids[16:144, 16:112] = 7
    ids[16:144, 112:208] = 900
    (pred,), _ = evaluate.predict_autoencoded(os.path.join(REPO, "models", "default"), [("unused.jpg", ids)])
    assert pred.shape == ids.shape
    tops = []
    for v, other in ((7, 900), (900, 7)):
        inside = pred[ids == v]
        top = np.bincount(inside).argmax()
        assert top != 0 and (inside == top).mean() > 0.9
        # Void pixels carry no code, so a segment may spread there, but not into the other instance.
        assert (ids[pred == top] == other).mean() < 0.05
        tops.append(top)
    assert tops[0] != tops[1]
