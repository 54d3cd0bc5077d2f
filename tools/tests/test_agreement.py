"""`agreement.py`'s matching: segment ids are slots, so two maps agree on a pixel when its
segments correspond one to one by largest overlap, whatever their ids."""
import numpy as np

from segtools.train.agreement import matched_pixels


def test_renamed_segments_agree_everywhere():
    a = np.repeat(np.arange(4, dtype=np.uint32), 25).reshape(10, 10)
    assert matched_pixels(a, (a * 7 + 3) % 11) == a.size


def test_each_segment_matches_one_other_only():
    a = np.zeros((4, 4), dtype=np.uint32)
    a[:, 2:] = 1
    b = np.full((4, 4), 5, dtype=np.uint32)  # one segment covering two
    assert matched_pixels(a, b) == 8
    b[0, :2] = 6  # two pixels of a's first segment split off
    # 5 goes to segment 1 (8 pixels, its largest overlap), so segment 0 keeps only 6's 2 pixels.
    assert matched_pixels(a, b) == 10
