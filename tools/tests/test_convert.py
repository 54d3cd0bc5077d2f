"""tools/convert_ldmseg.py on checkpoints laid out as the official LDMSeg trainer saves them
(small shapes), and the converted model in Swift against the official evaluation loop."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from segtools import testing

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools import convert_ldmseg
from segtools.reference import ldmseg_official
from segtools.reference import ldmseg_reference as ref
from segtools.train.parity import gaussian_noise
from segtools.codec import read_ids, write_ids

SIZE, STEPS = 128, 4
PAPER_THRESHOLDS = convert_ldmseg.PAPER_THRESHOLDS
LIVE_SLOTS = [0, 3, 17, 42]  # slot 0 is the ignore label: its pixels must come out void


def official_p(self_condition=True):
    """The training config as the official trainer stores it (base.yaml + the released overrides)."""
    return {
        "pretrained_model_path": "CompVis/stable-diffusion-v1-4",
        "image_scaling_factor": 0.18215,
        "vae_model_kwargs": {"in_channels": 7, "int_channels": 32, "out_channels": 128, "block_out_channels": [8, 16, 16, 32],
                             "latent_channels": 4, "num_latents": 2, "num_upscalers": 2, "upscale_channels": 32,
                             "norm_num_groups": 8, "scaling_factor": 0.18215, "parametrization": "gaussian", "act_fn": "none",
                             "clamp_output": False, "num_mid_blocks": 0, "fuse_rgb": False, "resize_input": False,
                             "skip_encoder": False},
        "backbone": "unet",
        "model_kwargs": {"in_channels": 8, "init_mode_seg": "copy", "init_mode_image": "zero",
                         "cond_channels": 4 if self_condition else 0, "separate_conv": False, "separate_encoder": False,
                         "add_adaptor": False},
        "noise_scheduler_kwargs": {"prediction_type": "epsilon", "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
                                   "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1, "clip_sample": False,
                                   "set_alpha_to_one": False, "thresholding": False, "weight": "none"},
        "train_kwargs": {"self_condition": self_condition, "image_descriptors": "remove", "caption_type": "none"},
        "sampling_kwargs": {"num_inference_steps": STEPS, "guidance_scale": 7.5, "seed": 0},
        # training-time thresholds (train_diffusion.sh): the converter must not take them
        "eval_kwargs": {"mask_th": 0.9, "count_th": 512, "overlap_th": 0.9},
        "transformation_kwargs": {"type": "crop_resize_pil", "size": SIZE, "size_rgb": SIZE, "max_size": SIZE},
        "num_classes": 128, "num_bits": 7, "ignore_label": 0,
    }


def old_vae_names(state):
    """Current diffusers VAE attention keys -> the diffusers 0.16 names the official code saved."""
    new_to_old = {v: k for k, v in convert_ldmseg.OLD_VAE_ATTENTION.items()}
    out = {}
    for k, v in state.items():
        for new, old in new_to_old.items():
            k = k.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        out[k] = v
    return out


def build_official(tmp, self_condition=True):
    """Writes `ldmseg.pt` (+ the base configs) as the official trainer would; returns the modules."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    torch.manual_seed(0)
    unet_kwargs = dict(in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                       down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
                       norm_num_groups=8, cross_attention_dim=32)
    unet = UNet2DConditionModel(**unet_kwargs).eval()
    for m in unet.modules():  # remove_cross_attention
        if hasattr(m, "attn2") and hasattr(m, "attn1"):
            m.attn2, m.norm2 = None, None
    # modify_encoder(in_channels=8, cond_channels=4): a wider first conv (random init, so the
    # self-condition channels matter), kept as `new_conv` and aliased as `conv_in`.
    new_conv = torch.nn.Conv2d(8 + (4 if self_condition else 0), 32, 3, padding=1)
    unet.new_conv = new_conv
    unet.conv_in = new_conv
    if self_condition:  # a strong self-condition path, so a run without it shows
        with torch.no_grad():
            new_conv.weight[:, 8:].mul_(4)
    vae = AutoencoderKL(block_out_channels=(32, 32, 32, 32), layers_per_block=1, norm_num_groups=8, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
    ae = ref.MaskAutoencoder(block_out=(8, 16, 16, 32), int_channels=32, groups=8, scaling_factor=0.18215).eval()
    with torch.no_grad():  # a few live slots with sharp logits, so segments survive mask_th and overlap_th 0.5
        last = ae.decoder[-1]
        last.weight.mul_(8)
        bias = torch.full_like(last.bias, -30.0)
        bias[LIVE_SLOTS] = -3
        last.bias.copy_(bias)
    p = official_p(self_condition)
    torch.save({"step": 1, "epoch": 0, "vae_image": old_vae_names(vae.state_dict()), "vae_semseg": ae.state_dict(),
                "unet": unet.state_dict(), "ema": None, "opt": None, "p": p, "scaler": None}, tmp / "ldmseg.pt")
    with open(tmp / "unet_config.json", "w") as f:
        json.dump(dict(unet.config), f, default=list)
    with open(tmp / "vae_config.json", "w") as f:
        json.dump(dict(vae.config), f, default=list)
    return unet, vae, ae, p


def convert(tmp):
    out = tmp / "model"
    assert convert_ldmseg.main([str(tmp / "ldmseg.pt"), str(out), "--unet-config", str(tmp / "unet_config.json"),
                                "--vae-config", str(tmp / "vae_config.json")]) == 0
    return out


def test_checkpoint_layout_is_the_official_one(tmp_path):
    build_official(tmp_path)
    ckpt = torch.load(tmp_path / "ldmseg.pt", weights_only=False)
    unet, vae = ckpt["unet"], ckpt["vae_image"]
    assert unet["conv_in.weight"].shape[1] == 12 and "new_conv.weight" in unet
    assert unet["conv_in.weight"].untyped_storage().data_ptr() == unet["new_conv.weight"].untyped_storage().data_ptr()
    assert "encoder.mid_block.attentions.0.query.weight" in vae and not any(".to_q." in k for k in vae)


def test_converts_the_official_layout(tmp_path):
    build_official(tmp_path)
    config = json.loads((convert(tmp_path) / "config.json").read_text())
    assert config["unet"]["self_conditioning"] is True
    assert config["preprocessing"] == {"resize": "squash", "interpolation": "bicubic", "pad_multiple": 64}
    assert config["mask_autoencoder"]["scaling_factor"] == 0.18215 and config["mask_autoencoder"]["void_slot"] == 0
    inference = config["inference"]
    assert (inference["mask_th"], inference["count_th"], inference["overlap_th"]) == (0.5, 512, 0.5)
    assert (inference["steps"], inference["resolution"]) == (STEPS, SIZE)
    assert config["unet"]["attention_head_dim"] == 4 and config["unet"]["norm_num_groups"] == 8
    assert config["image_encoder"]["norm_num_groups"] == 8
    from safetensors.torch import load_file
    unet = load_file(tmp_path / "model" / "unet.safetensors")
    image = load_file(tmp_path / "model" / "image_encoder.safetensors")
    assert not any(k.startswith("new_conv.") for k in unet) and unet["conv_in.weight"].shape[1] == 12
    assert "encoder.mid_block.attentions.0.to_q.weight" in image and not any(k.startswith("decoder.") for k in image)


def converted_with_image(tmp_path):
    """An official-layout checkpoint converted, and a COCO photo as PNG (one decoder for both sides)."""
    unet, vae, ae, _ = build_official(tmp_path)
    out = convert(tmp_path)
    png = tmp_path / "image.png"
    Image.open(testing.PHOTOS[0]).convert("RGB").save(png)
    return unet, vae, ae, out, png, np.asarray(Image.open(png), dtype=np.uint8)


@torch.no_grad()
def test_swift_runs_the_converted_model_as_the_official_loop(tmp_path):
    unet, vae, ae, out, png, image = converted_with_image(tmp_path)
    sampler = ldmseg_official.OfficialSampler(unet, vae, ae, size=SIZE)
    noise = gaussian_noise(0, (1, 4, SIZE // 8, SIZE // 8))
    expected, _ = sampler.segment(image, noise, STEPS)
    expected = expected.numpy()
    segments = set(np.unique(expected)) - {0}
    assert len(segments) >= 2 and (expected == 0).any(), f"the reference run has segments {segments}"
    assert LIVE_SLOTS[0] + 1 not in segments, "slot 0 (ignore label) is void"

    subprocess.run([testing.binary("debug"), "segment", "--model", str(out), str(png), "--out", str(tmp_path / "seg"),
                    "--threads", "1"], check=True, capture_output=True)
    swift = read_ids(tmp_path / "seg" / "panoptic.png")
    agreement = float((swift == expected).mean())
    assert agreement >= 0.999, f"{agreement:.5f} of pixels agree"

    # With the x0 feedback cut (the condition channels held at zero) the map differs: the
    # agreement above depends on self-conditioning being run.
    def zero_condition(x, t, encoder_hidden_states=None):
        return unet(torch.cat([x[:, :8], torch.zeros_like(x[:, 8:])], 1), t, encoder_hidden_states=encoder_hidden_states)
    without, _ = ldmseg_official.OfficialSampler(zero_condition, vae, ae, size=SIZE).segment(image, noise, STEPS)
    assert float((swift == without.numpy()).mean()) < 0.99, f"{float((swift == without.numpy()).mean()):.4f} of pixels agree"


def reference_pipeline(unet, vae, ae):
    """segserve's own path (tools/reference) configured as the converter configures the model."""
    return ref.Pipeline(lambda x: vae.encode(x).latent_dist.mode(), ae, unet, input_range=(-1.0, 1.0), image_scale=0.18215,
                        resize="squash", interpolation="bicubic", void_slot=0, self_condition=True)


@torch.no_grad()
def test_inpainting_a_converted_model_matches_the_reference(tmp_path):
    unet, vae, ae, out, png, image = converted_with_image(tmp_path)
    pipe = reference_pipeline(unet, vae, ae)
    noise = gaussian_noise(0, (1, 4, SIZE // 8, SIZE // 8))
    thresholds = dict(PAPER_THRESHOLDS)
    # The same path segments as the official loop does.
    ids, _, _ = pipe.segment(torch.from_numpy(image.copy()), noise, STEPS, SIZE, thresholds)
    official, _ = ldmseg_official.OfficialSampler(unet, vae, ae, size=SIZE).segment(image, noise, STEPS)
    assert float((ids == official).float().mean()) >= 0.999

    H, W = image.shape[:2]
    partial = np.zeros((H, W), dtype=np.int64)
    partial[: H // 2, : W // 2] = 1000
    partial[: H // 2, W // 2:] = 70000
    write_ids(partial, tmp_path / "partial.png")
    # segserve draws the known-cell noise right after the initial noise from the same seed.
    both = gaussian_noise(0, (2, 4, SIZE // 8, SIZE // 8))
    expected, _ = pipe.inpaint(torch.from_numpy(image.copy()), torch.from_numpy(partial), torch.from_numpy(partial != 0),
                               both[:1], both[1:], STEPS, SIZE, thresholds)
    expected = expected.numpy()
    assert len(set(np.unique(expected[H // 2:])) - {0}) >= 1, "the unknown half gets segments"
    subprocess.run([testing.binary("debug"), "inpaint", "--model", str(out), str(png), "--mask", str(tmp_path / "partial.png"),
                    "--out", str(tmp_path / "inp"), "--threads", "1"], check=True, capture_output=True)
    swift = read_ids(tmp_path / "inp" / "panoptic.png")
    assert (swift[: H // 2] == partial[: H // 2]).all(), "known pixels keep their ids"
    same = swift[H // 2:] == expected[H // 2:]
    assert float(same.mean()) >= 0.999, f"{float(same.mean()):.5f} of the unknown pixels agree"


def test_eight_channel_checkpoints_convert_without_self_conditioning(tmp_path):
    build_official(tmp_path, self_condition=False)
    config = json.loads((convert(tmp_path) / "config.json").read_text())
    assert config["unet"]["self_conditioning"] is False


@pytest.mark.parametrize("change, message", [
    (lambda c: c["p"]["model_kwargs"].update(separate_conv=True), "separate_conv"),
    (lambda c: c["p"]["noise_scheduler_kwargs"].update(prediction_type="v_prediction"), "prediction_type"),
    (lambda c: c["p"]["vae_model_kwargs"].update(parametrization="discrete_codebook"), "parametrization"),
    (lambda c: c["p"]["train_kwargs"].update(self_condition=False), "self_condition"),
    (lambda c: c["unet"].update({"new_conv.bias": c["unet"]["new_conv.bias"] + 1}), "alias"),
    (lambda c: c["unet"].update({"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight": torch.zeros(4, 4)}),
     "cross-attention"),
])
def test_what_cannot_be_run_is_refused(tmp_path, change, message):
    build_official(tmp_path)
    ckpt = torch.load(tmp_path / "ldmseg.pt", weights_only=False)
    ckpt["unet"] = {k: v.clone() for k, v in ckpt["unet"].items()}
    change(ckpt)
    torch.save(ckpt, tmp_path / "ldmseg.pt")
    with pytest.raises(convert_ldmseg.ConversionError, match=message):
        convert_ldmseg.convert(str(tmp_path / "ldmseg.pt"), str(tmp_path / "out"))


def test_missing_parts_are_named(tmp_path):
    torch.save({"unet": {}, "p": {}}, tmp_path / "bad.pt")
    with pytest.raises(convert_ldmseg.ConversionError, match="unet"):
        convert_ldmseg.convert(str(tmp_path / "bad.pt"), str(tmp_path / "out"))
    assert convert_ldmseg.main([str(tmp_path / "bad.pt"), str(tmp_path / "out")]) == 2
