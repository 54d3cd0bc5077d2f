"""The ESPNetv2 reference (tools/reference/espnetv2.py): EdgeNets' checkpoint layout, and
probabilities at the image's size."""
import json

import numpy as np
import torch

from segtools import testing
from segtools.reference import espnetv2


def test_state_dict_has_the_checkpoints_names_and_shapes():
    with open(testing.ESPNETV2_LAYOUT) as f:
        layout = json.load(f)
    state = espnetv2.ESPNetv2Segmentation().state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == layout


def test_predict_gives_class_probabilities_at_the_images_size(tmp_path):
    folder = testing.random_weights(tmp_path)
    model = espnetv2.from_checkpoint(f"{folder}/weights/espnetv2/{espnetv2.CHECKPOINT}")
    rgb = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    probs = espnetv2.predict(model, rgb)
    assert probs.shape == (21, 37, 45) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    # The network sees a 384 x 384 squash of the image, whatever its size.
    x = espnetv2.preprocess(rgb)
    assert x.shape == (1, 3, 384, 384)
    with torch.no_grad():
        assert model(x).shape == (1, 21, 384, 384)
