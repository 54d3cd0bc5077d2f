"""tools/convert_ldmseg.py and `segserve convert` on checkpoints laid out as the official LDMSeg
trainer saves them (small shapes), and the converted model in Swift against the official evaluation
loop."""
import collections
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
from segtools.reference import official_checkpoint as official
from segtools.reference import ldmseg_reference as ref
from segtools.train.parity import gaussian_noise
from segtools.codec import read_ids, write_ids

SIZE, STEPS = 128, 4
PAPER_THRESHOLDS = convert_ldmseg.PAPER_THRESHOLDS
LIVE_SLOTS = [0, 3, 17, 42]  # slot 0 is the ignore label: its pixels must come out void
SMALL_AE = {**official.PAPER_AE, "block_out_channels": [8, 16, 16, 32], "int_channels": 32, "upscale_channels": 32,
            "norm_num_groups": 8}


def build_official(tmp, self_condition=True):
    """Writes `ldmseg.pt` (+ the base configs) as the official trainer would; returns the modules."""
    torch.manual_seed(0)
    unet = official.official_unet((32, 64), 1, 4, 8, self_condition)
    if self_condition:  # a strong self-condition path, so a run without it shows
        with torch.no_grad():
            unet.new_conv.weight[:, 8:].mul_(4)
    vae = official.sd_vae((32, 32, 32, 32), 1, 8)
    ae = ref.MaskAutoencoder(block_out=(8, 16, 16, 32), int_channels=32, groups=8, scaling_factor=0.18215).eval()
    with torch.no_grad():  # a few live slots with sharp logits, so segments survive mask_th and overlap_th 0.5
        last = ae.decoder[-1]
        last.weight.mul_(8)
        bias = torch.full_like(last.bias, -30.0)
        bias[LIVE_SLOTS] = -3
        last.bias.copy_(bias)
    p = official.official_p(SIZE, STEPS, self_condition, SMALL_AE)
    official.save(tmp / "ldmseg.pt", unet, vae, ae, p)
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


REFUSALS = [
    (lambda c: c["p"]["model_kwargs"].update(separate_conv=True), "separate_conv"),
    (lambda c: c["p"]["noise_scheduler_kwargs"].update(prediction_type="v_prediction"), "prediction_type"),
    (lambda c: c["p"]["vae_model_kwargs"].update(parametrization="discrete_codebook"), "parametrization"),
    (lambda c: c["p"]["train_kwargs"].update(self_condition=False), "self_condition"),
    (lambda c: c["unet"].update({"new_conv.bias": c["unet"]["new_conv.bias"] + 1}), "alias"),
    (lambda c: c["unet"].update({"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight": torch.zeros(4, 4)}),
     "cross-attention"),
]


def changed_official(tmp, change):
    """An official-layout checkpoint with `change` applied to its dict (the UNet's tensors unshared)."""
    build_official(tmp)
    ckpt = torch.load(tmp / "ldmseg.pt", weights_only=False)
    ckpt["unet"] = {k: v.clone() for k, v in ckpt["unet"].items()}
    change(ckpt)
    torch.save(ckpt, tmp / "ldmseg.pt")


@pytest.mark.parametrize("change, message", REFUSALS)
def test_what_cannot_be_run_is_refused(tmp_path, change, message):
    changed_official(tmp_path, change)
    with pytest.raises(convert_ldmseg.ConversionError, match=message):
        convert_ldmseg.convert(str(tmp_path / "ldmseg.pt"), str(tmp_path / "out"))


def test_missing_parts_are_named(tmp_path):
    torch.save({"unet": {}, "p": {}}, tmp_path / "bad.pt")
    with pytest.raises(convert_ldmseg.ConversionError, match="unet"):
        convert_ldmseg.convert(str(tmp_path / "bad.pt"), str(tmp_path / "out"))
    assert convert_ldmseg.main([str(tmp_path / "bad.pt"), str(tmp_path / "out")]) == 2


def swift_convert(checkpoint, out, *args):
    """`segserve convert` as users run it: the release build."""
    return subprocess.run([testing.binary("release"), "convert", str(checkpoint), str(out), *args], capture_output=True, text=True)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_swift_converter_writes_the_python_converters_bytes(tmp_path, dtype):
    """`segserve convert` and tools/convert_ldmseg.py give the same four files, byte for byte."""
    build_official(tmp_path)
    configs = ["--unet-config", str(tmp_path / "unet_config.json"), "--vae-config", str(tmp_path / "vae_config.json"), "--dtype", dtype]
    assert convert_ldmseg.main([str(tmp_path / "ldmseg.pt"), str(tmp_path / "python"), *configs]) == 0
    run = swift_convert(tmp_path / "ldmseg.pt", tmp_path / "swift", *configs)
    assert run.returncode == 0, run.stderr
    for name in ["config.json", "unet.safetensors", "image_encoder.safetensors", "mask_autoencoder.safetensors"]:
        assert (tmp_path / "swift" / name).read_bytes() == (tmp_path / "python" / name).read_bytes(), name


def test_swift_converter_takes_a_separate_autoencoder_and_defaults_to_float16(tmp_path):
    _, _, ae, _ = build_official(tmp_path)
    with torch.no_grad():
        other = {k: v + 1 for k, v in ae.state_dict().items()}
    torch.save({"vae": collections.OrderedDict(("module." + k, v) for k, v in other.items())}, tmp_path / "ae.pt")
    assert convert_ldmseg.main([str(tmp_path / "ldmseg.pt"), str(tmp_path / "python"), "--ae", str(tmp_path / "ae.pt"),
                                "--dtype", "float16"]) == 0
    run = swift_convert(tmp_path / "ldmseg.pt", tmp_path / "swift", "--ae", str(tmp_path / "ae.pt"))
    assert run.returncode == 0, run.stderr
    for name in ["config.json", "unet.safetensors", "image_encoder.safetensors", "mask_autoencoder.safetensors"]:
        assert (tmp_path / "swift" / name).read_bytes() == (tmp_path / "python" / name).read_bytes(), name
    from safetensors.torch import load_file
    written = load_file(tmp_path / "swift" / "mask_autoencoder.safetensors")
    assert all(v.dtype == torch.float16 for v in written.values())
    assert torch.equal(written["decoder.0.weight"], other["decoder.0.weight"].half()), "the separate auto-encoder is the one written"


@pytest.mark.parametrize("change, message", REFUSALS)
def test_swift_converter_refuses_what_python_refuses(tmp_path, change, message):
    changed_official(tmp_path, change)
    run = swift_convert(tmp_path / "ldmseg.pt", tmp_path / "out")
    assert run.returncode != 0 and message in run.stderr, run.stderr
    assert not (tmp_path / "out" / "config.json").exists()


class RunsCode:
    """What a hostile checkpoint holds: unpickling it calls a function of the author's choice."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_swift_converter_never_runs_a_checkpoints_code(tmp_path):
    marker = tmp_path / "ran"
    changed_official(tmp_path, lambda c: c["p"].update(payload=RunsCode(marker)))
    run = swift_convert(tmp_path / "ldmseg.pt", tmp_path / "out")
    assert run.returncode != 0 and "posix.system" in run.stderr, run.stderr
    assert not marker.exists()


@torch.no_grad()
def test_dpm_solver_runs_self_conditioned_and_inpainting_as_the_reference(tmp_path):
    """`--sampler dpm-solver++` on the self-conditioned official layout, segmenting and inpainting,
    against the reference path stepping with diffusers' DPMSolverMultistepScheduler."""
    unet, vae, ae, out, png, image = converted_with_image(tmp_path)
    pipe = reference_pipeline(unet, vae, ae)
    pipe.sampler = "dpm-solver++"
    thresholds = dict(PAPER_THRESHOLDS)
    noise = gaussian_noise(0, (1, 4, SIZE // 8, SIZE // 8))
    expected, _, _ = pipe.segment(torch.from_numpy(image.copy()), noise, STEPS, SIZE, thresholds)
    ddim, _, _ = reference_pipeline(unet, vae, ae).segment(torch.from_numpy(image.copy()), noise, STEPS, SIZE, thresholds)
    assert float((expected == ddim).float().mean()) < 0.99, "the solver changes the segmentation"
    subprocess.run([testing.binary("debug"), "segment", "--model", str(out), str(png), "--out", str(tmp_path / "seg"),
                    "--threads", "1", "--sampler", "dpm-solver++"], check=True, capture_output=True)
    agreement = float((read_ids(tmp_path / "seg" / "panoptic.png") == expected.numpy()).mean())
    assert agreement >= 0.999, f"{agreement:.5f} of pixels agree"

    H, W = image.shape[:2]
    partial = np.zeros((H, W), dtype=np.int64)
    partial[: H // 2] = 1000
    write_ids(partial, tmp_path / "partial.png")
    both = gaussian_noise(0, (2, 4, SIZE // 8, SIZE // 8))
    expected, _ = pipe.inpaint(torch.from_numpy(image.copy()), torch.from_numpy(partial), torch.from_numpy(partial != 0),
                               both[:1], both[1:], STEPS, SIZE, thresholds)
    subprocess.run([testing.binary("debug"), "inpaint", "--model", str(out), str(png), "--mask", str(tmp_path / "partial.png"),
                    "--out", str(tmp_path / "inp"), "--threads", "1", "--sampler", "dpm-solver++"], check=True, capture_output=True)
    swift = read_ids(tmp_path / "inp" / "panoptic.png")
    assert (swift[: H // 2] == 1000).all(), "known pixels keep their ids"
    same = float((swift[H // 2:] == expected.numpy()[H // 2:]).mean())
    assert same >= 0.999, f"{same:.5f} of the unknown pixels agree"


@torch.no_grad()
def test_deep_cache_segments_as_the_reference(tmp_path):
    """`--deep-cache 3` on the self-conditioned official layout against the reference path's
    DeepCache (`ldmseg_reference.unet_pass`): shallow passes between full ones, same pixels."""
    unet, vae, ae, out, png, image = converted_with_image(tmp_path)
    pipe = reference_pipeline(unet, vae, ae)
    pipe.deep_cache = 3
    thresholds = dict(PAPER_THRESHOLDS)
    noise = gaussian_noise(0, (1, 4, SIZE // 8, SIZE // 8))
    expected, _, cached = pipe.segment(torch.from_numpy(image.copy()), noise, STEPS, SIZE, thresholds)
    _, _, plain = reference_pipeline(unet, vae, ae).segment(torch.from_numpy(image.copy()), noise, STEPS, SIZE, thresholds)
    assert float((cached - plain).abs().max()) > 1e-3, "the shallow passes change the latent"
    subprocess.run([testing.binary("debug"), "segment", "--model", str(out), str(png), "--out", str(tmp_path / "seg"),
                    "--threads", "1", "--deep-cache", "3"], check=True, capture_output=True)
    agreement = float((read_ids(tmp_path / "seg" / "panoptic.png") == expected.numpy()).mean())
    assert agreement >= 0.999, f"{agreement:.5f} of pixels agree"


def test_swift_converter_names_a_malformed_tensor(tmp_path):
    """What the Python converter would crash on (an IndexError) is a typed error naming the tensor."""
    changed_official(tmp_path, lambda c: c["unet"].update({"conv_out.weight": torch.zeros(())}))
    run = swift_convert(tmp_path / "ldmseg.pt", tmp_path / "out")
    assert run.returncode != 0 and "conv_out.weight" in run.stderr and "4 dimensions" in run.stderr, run.stderr
