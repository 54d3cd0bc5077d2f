"""segtools: the panoptic PNG codec and the model-directory writer."""
import json

import numpy as np
import torch
from safetensors.torch import load_file

from segtools import codec
from segtools.modeldir import write_model_dir


def test_codec_round_trips_ids_through_png(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2 ** 24, (13, 17))
    ids[0, 0] = 0
    ids[0, 1] = 2 ** 24 - 1
    codec.write_ids(ids, tmp_path / "ids.png")
    back = codec.read_ids(tmp_path / "ids.png")
    assert back.dtype == np.int64 and np.array_equal(back, ids)
    assert codec.read_ids(tmp_path / "ids.png", np.uint32).dtype == np.uint32
    assert codec.rgb_from_ids(np.array([[3 + 2 * 256 + 1 * 65536]])).tolist() == [[[3, 2, 1]]]
    assert np.array_equal(codec.ids_from_rgb(codec.rgb_from_ids(ids)), ids)


def test_model_directory_holds_config_and_weights(tmp_path):
    modules = {"unet": {"w": torch.arange(6.0).view(2, 3)}, "image_encoder": {"b": torch.ones(2, dtype=torch.float64)}}
    config = {"name": "x", "format": "ldmseg"}
    write_model_dir(tmp_path / "m", config, modules, torch.float16, sort_keys=True)
    text = (tmp_path / "m" / "config.json").read_text()
    assert json.loads(text) == config and text.endswith("}\n") and text.index('"format"') < text.index('"name"')
    unet = load_file(tmp_path / "m" / "unet.safetensors")
    assert unet["w"].dtype == torch.float16 and torch.equal(unet["w"].float(), modules["unet"]["w"])
    assert load_file(tmp_path / "m" / "image_encoder.safetensors")["b"].dtype == torch.float16
