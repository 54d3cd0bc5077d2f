"""evaluate.py helpers: the inpainting split of instances, and the deduplicated val set."""
import os
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "train"))

import data  # noqa: E402
import evaluate  # noqa: E402


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
    names = [os.path.basename(p) for p, _ in data.load_splits(data.DEFAULT_DATA, "val2017")]
    assert len(names) == len(set(names)) == 158
