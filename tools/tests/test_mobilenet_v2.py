"""torchvision's ImageNet MobileNetV2 weights load into the encoder of tools/reference and still
classify. (That folding BatchNorm keeps the output is checked by the Swift parity test, which
runs the folded weights against this module with its BatchNorms.)"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.reference.mobilenet_v2 import MobileNetV2Encoder

WEIGHTS = os.path.join(os.path.dirname(REPO), "shared", "weights", "mobilenet_v2", "mobilenet_v2-b0353104.pth")
PHOTOS = os.path.join(os.path.dirname(REPO), "shared", "data", "panoptic-samples", "input_images")


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


@torch.no_grad()
def test_imagenet_weights_load_and_classify():
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    trained = MobileNetV2Encoder().eval()
    trained.load_torchvision(state)
    random = MobileNetV2Encoder().eval()
    confident = []
    for name in sorted(os.listdir(PHOTOS))[:3]:
        image = Image.open(os.path.join(PHOTOS, name)).convert("RGB").resize((224, 224), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        confident.append(float(imagenet_probabilities(trained, state, x).max()))
        assert float(imagenet_probabilities(random, state, x).max()) < 0.05, "untrained features should not be confident"
    print("top-1 probabilities", confident)
    assert max(confident) > 0.3, f"top-1 probabilities {confident}: the weights did not land where they belong"
