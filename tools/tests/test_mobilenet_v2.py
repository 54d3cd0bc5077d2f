"""torchvision's ImageNet MobileNetV2 weights load into the encoder of tools/reference, and, where
the weights are among the inputs (docs/model.md, Training data), still classify. (That folding
BatchNorm keeps the output is checked by the Swift parity test, which runs the folded weights
against this module with its BatchNorms.)"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import pytest

from segtools.reference.mobilenet_v2 import MobileNetV2Encoder
from segtools.testing import MOBILENET_V2_LAYOUT, PHOTOS
from segtools.train.data import DEFAULT_INPUTS

WEIGHTS = os.path.join(DEFAULT_INPUTS, "weights", "mobilenet_v2", "mobilenet_v2-b0353104.pth")


def imagenet_probabilities(encoder, state, x):
    """The full classifier on top of our backbone: features.18, global pooling, classifier.1."""
    h = (x - encoder.mean) / encoder.std
    for layer in encoder.features:
        h = layer(h)
    s = state
    h = F.conv2d(h, s["features.18.0.weight"])
    h = F.batch_norm(h, s["features.18.1.running_mean"], s["features.18.1.running_var"],
                     s["features.18.1.weight"], s["features.18.1.bias"], eps=1e-5)
    h = F.relu6(h).mean(dim=(2, 3))
    return torch.softmax(F.linear(h, s["classifier.1.weight"], s["classifier.1.bias"]), dim=1)


def photo_batch(path):
    image = Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]


@torch.no_grad()
def test_torchvision_layout_loads():
    """Every backbone tensor of torchvision's state dict has its place and shape here (strict load)."""
    with open(MOBILENET_V2_LAYOUT) as f:
        layout = json.load(f)
    torch.manual_seed(0)
    state = {k: torch.zeros(shape, dtype=torch.long) if k.endswith("num_batches_tracked") else torch.rand(shape) + 0.5
             for k, shape in layout.items()}
    encoder = MobileNetV2Encoder().eval()
    encoder.load_torchvision(state)
    assert torch.equal(encoder.features[0][0].weight, state["features.0.0.weight"])
    probabilities = imagenet_probabilities(encoder, state, photo_batch(PHOTOS[0]))
    assert probabilities.shape == (1, 1000) and torch.isfinite(probabilities).all()


@pytest.mark.skipif(not os.path.exists(WEIGHTS), reason="torchvision's ImageNet weights are not among the inputs")
@torch.no_grad()
def test_imagenet_weights_load_and_classify():
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    trained = MobileNetV2Encoder().eval()
    trained.load_torchvision(state)
    random = MobileNetV2Encoder().eval()
    confident = []
    for path in PHOTOS:
        x = photo_batch(path)
        confident.append(float(imagenet_probabilities(trained, state, x).max()))
        assert float(imagenet_probabilities(random, state, x).max()) < 0.05, "untrained features should not be confident"
    print("top-1 probabilities", confident)
    assert max(confident) > 0.3, f"top-1 probabilities {confident}: the weights did not land where they belong"
