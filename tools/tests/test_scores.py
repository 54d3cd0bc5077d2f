"""The scoring measures of tools/train/scores.py on made-up segments (no model needed)."""
import numpy as np

from segtools.train import scores


def test_a_segment_is_right_by_iou_over_half_with_void_left_out():
    gt = np.array([[1, 1, 1, 0],
                   [1, 1, 1, 0],
                   [2, 2, 0, 0]])
    pred = np.array([[5, 5, 5, 5],    # segment 5: all of 1 plus void: right (void left out)
                     [5, 5, 5, 5],
                     [6, 6, 7, 7]])   # 6: all of 2; 7: only void, judged by neither
    segments = [{"id": 5, "score": 0.9}, {"id": 6, "score": 0.2}, {"id": 7, "score": 0.5}]
    assert scores.judged(pred, segments, gt) == [(0.9, True), (0.2, True)]
    wrong = np.array([[5, 5, 6, 6], [5, 6, 6, 6], [6, 6, 6, 6]])
    assert [r for _, r in scores.judged(wrong, segments[:2], gt)] == [False, False]


def test_auc_ranks_right_above_wrong_with_ties_halved():
    assert scores.auc([(0.9, True), (0.8, True), (0.1, False)]) == 1.0
    assert scores.auc([(0.1, True), (0.9, False)]) == 0.0
    assert scores.auc([(0.5, True), (0.5, False)]) == 0.5
    assert np.isnan(scores.auc([(0.5, True)]))


def test_deciles_and_the_logistic_fit():
    pairs = [(0.05, False), (0.15, False), (0.95, True), (1.0, True)]
    rows = scores.deciles(pairs)
    assert rows[0] == {"scores": "0.0-0.1", "segments": 1, "right": 0.0}
    assert rows[9] == {"scores": "0.9-1.0", "segments": 2, "right": 1.0}
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 4000)
    y = (rng.uniform(0, 1, 4000) < 1 / (1 + np.exp(-(-3 + 6 * x)))).astype(float)
    bias, weight = scores.fit_logistic(x, y)
    assert abs(bias + 3) < 0.4 and abs(weight - 6) < 0.8


def test_dropping_low_scores_voids_their_pixels():
    pred = np.array([[1, 2], [3, 0]])
    segments = [{"id": 1, "score": 0.1}, {"id": 2, "score": 0.6}, {"id": 3}]
    assert scores.dropped(pred, segments, 0.5).tolist() == [[0, 2], [3, 0]]
    assert scores.dropped(pred, segments, 0.0) is pred
