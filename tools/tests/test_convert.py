"""tools/convert_ldmseg.py on a checkpoint built here with the official key names and small shapes."""
import json
import os
import subprocess
import sys

import pytest
import torch

import segserve_server

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))

import convert_ldmseg  # noqa: E402
import ldmseg_reference as ref  # noqa: E402


def official_checkpoint(path, ae_path):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
                                norm_num_groups=8, cross_attention_dim=32)
    for m in unet.modules():
        if hasattr(m, "attn2") and hasattr(m, "attn1"):
            m.attn2, m.norm2 = None, None
    vae = AutoencoderKL(block_out_channels=(32, 32, 32, 32), layers_per_block=1, norm_num_groups=8, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    ae = ref.MaskAutoencoder(block_out=(8, 16, 16, 32), int_channels=32, groups=8)
    p = {"vae_model_kwargs": {"scaling_factor": 0.2, "norm_num_groups": 8},
         "model_kwargs": {"attention_head_dim": 4, "norm_num_groups": 8},
         "noise_scheduler_kwargs": {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"},
         "eval_kwargs": {"mask_th": 0.5, "count_th": 16, "overlap_th": 0.5, "num_inference_steps": 3}}
    image = {k: v for k, v in vae.state_dict().items() if k.startswith(("encoder.", "quant_conv."))}
    torch.save({"unet": {f"module.{k}": v for k, v in unet.state_dict().items()}, "vae_image": image,
                "vae_semseg": {}, "p": p}, path)
    torch.save({"vae": {f"module.{k}": v for k, v in ae.state_dict().items()}}, ae_path)


def test_converts_and_runs_in_swift(tmp_path):
    official_checkpoint(tmp_path / "model.pt", tmp_path / "ae.pt")
    out = tmp_path / "model"
    assert convert_ldmseg.main([str(tmp_path / "model.pt"), str(out), "--ae", str(tmp_path / "ae.pt")]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["image_encoder"]["type"] == "sd_vae" and config["image_encoder"]["scaling_factor"] == 0.18215
    assert config["unet"]["attention_head_dim"] == 4 and config["inference"]["count_th"] == 16
    binary = segserve_server.binary("debug")
    images = os.path.join(os.path.dirname(REPO), "shared", "data", "coco-instances", "coco-tiny", "val2017")
    image = os.path.join(images, sorted(os.listdir(images))[0])
    subprocess.run([binary, "segment", "--model", str(out), image, "--out", str(tmp_path / "seg"), "--resolution", "128"],
                   check=True, capture_output=True)
    assert json.loads((tmp_path / "seg" / "segments.json").read_text())["width"] > 0


def test_missing_parts_are_named(tmp_path):
    torch.save({"unet": {}, "p": {}}, tmp_path / "bad.pt")
    with pytest.raises(convert_ldmseg.ConversionError, match="unet"):
        convert_ldmseg.convert(str(tmp_path / "bad.pt"), str(tmp_path / "out"))
    assert convert_ldmseg.main([str(tmp_path / "bad.pt"), str(tmp_path / "out")]) == 2
