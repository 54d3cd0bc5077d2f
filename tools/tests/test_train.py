"""Training smoke test: a few images, a few steps of every stage, on CPU."""
import csv
import json
import os
import subprocess

import torch
import torch.nn.functional as F

from segtools import testing
from segtools.testing import PHOTOS


from segtools.reference import ldmseg_reference as ref
from segtools.train import data, parity, train


@torch.no_grad()
def mask_ae_loss(ae):
    """The mask auto-encoder's reconstruction loss on 16 fixed crops of the first training images."""
    crops = data.SegmentationCrops(data.load_splits(testing.DATA, "train2017")[:2], 64, seed=123, length=16)
    slots = torch.stack([crops[i][1] for i in range(16)])
    logits = ae.decode_full(ae.encode(torch.stack([ref.bit_encode(s) for s in slots])))
    return F.cross_entropy(logits, torch.where(slots > 0, slots, -100), ignore_index=-100).item()


def inputs(tmp_path):
    """Training's data and weights options: the miniature data root, random weights."""
    return ["--data-root", testing.DATA, "--inputs", testing.random_weights(tmp_path / "inputs")]


def test_stages_run_loss_falls_and_export_loads(tmp_path):
    work, out = tmp_path / "work", tmp_path / "model"
    args = inputs(tmp_path) + ["--work", str(work), "--out", str(out), "--limit-images", "2", "--batch", "2",
            "--resolution", "64", "--ae-resolution", "64", "--crops-per-image", "2",
            "--steps-encoder", "3", "--steps-ae", "40", "--lr-ae", "1e-3"]
    train.main(args + ["--steps-unet", "5"])
    # Resumes: two more UNet steps, all practising inpainting; no other stage runs.
    train.main(args + ["--steps-unet", "7", "--inpaint-fraction", "1"])
    with open(work / "log.csv") as f:
        rows = list(csv.reader(f))
    assert [int(r[2]) for r in rows if r[1] == "unet"] == list(range(7))
    assert "optimizer" in torch.load(work / "unet.pt")
    cache = torch.load(work / "latents.pt")
    assert cache["partial"].shape == cache["mask"].shape and cache["cells"].shape[1:] == cache["mask"].shape[2:]
    # A larger crop pool appends the new crops' latents to the cache and keeps the old ones
    # and the diffusion scale.
    train.main(args + ["--steps-unet", "7", "--crops-per-image", "3"])
    grown = torch.load(work / "latents.pt")
    assert grown["image"].shape[0] == 6 and cache["image"].shape[0] == 4
    for key in ("image", "mask", "partial", "cells"):
        assert grown[key].shape[0] == 6 and torch.equal(grown[key][:4], cache[key])
    assert torch.equal(grown["mask_std"], cache["mask_std"])
    assert len([r for r in rows if r[1] == "ae"]) == 40
    # Batches differ too much in difficulty to compare the logged losses: score a fixed batch.
    torch.manual_seed(0)
    fresh = train.init_mask_autoencoder(ref.MaskAutoencoder()).eval()
    trained = ref.MaskAutoencoder().eval()
    trained.load_state_dict(torch.load(work / "ae.pt")["model"])
    assert mask_ae_loss(trained) < 0.9 * mask_ae_loss(fresh), "mask auto-encoder loss did not fall"
    assert any(r[1] == "unet" for r in rows) and any(r[1] == "encoder" for r in rows)

    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "ldmseg" and config["image_encoder"]["type"] == "taesd"
    total = sum(os.path.getsize(out / f) for f in os.listdir(out))
    assert total < 25 * 2 ** 20

    # The Swift runtime loads the export and segments a real image with it.
    binary = testing.binary("debug")
    image = PHOTOS[0]
    subprocess.run([binary, "segment", "--model", str(out), image, "--out", str(tmp_path / "seg"), "--steps", "2"],
                   check=True, capture_output=True)
    annotation = json.loads((tmp_path / "seg" / "segments.json").read_text())
    assert annotation["width"] > 0 and "segments_info" in annotation
    assert (tmp_path / "seg" / "panoptic.png").stat().st_size > 0

    # ... and like the PyTorch reference does with the same noise, pixel for pixel.
    agreement, segments = parity.compare(str(out), image, binary, steps=2)
    assert segments >= 1 and agreement >= 0.999, (agreement, segments)


def test_self_conditioned_fine_tune_exports_and_matches(tmp_path):
    base = inputs(tmp_path) + ["--limit-images", "2", "--batch", "2", "--resolution", "64", "--ae-resolution", "64",
            "--crops-per-image", "2", "--steps-encoder", "2", "--steps-ae", "5"]
    train.main(base + ["--work", str(tmp_path / "w0"), "--out", str(tmp_path / "plain"), "--steps-unet", "2"])
    out = tmp_path / "model"
    train.main(base + ["--work", str(tmp_path / "w1"), "--out", str(out), "--steps-unet", "3", "--self-condition",
                       "--init-unet", str(tmp_path / "plain"), "--inpaint-fraction", "0.5"])
    config = json.loads((out / "config.json").read_text())
    assert config["unet"]["self_conditioning"] is True
    from safetensors.torch import load_file
    plain, grown = load_file(tmp_path / "plain" / "unet.safetensors"), load_file(out / "unet.safetensors")
    assert grown["conv_in.weight"].shape[1] == plain["conv_in.weight"].shape[1] + 4
    agreement, segments = parity.compare(str(out), PHOTOS[0], testing.binary("debug"), steps=3)
    assert segments >= 1 and agreement >= 0.999, (agreement, segments)


def test_edge_conditioned_fine_tune_exports_and_matches(tmp_path):
    """--edges: HED's maps cached per crop and fed to a UNet grown from a plain one (new
    channels zero), exported with the HED weights; Swift segments like PyTorch with it."""
    from segtools.reference import hed
    from safetensors.torch import load_file, save_file
    torch.manual_seed(0)
    edges = tmp_path / "edges.safetensors"
    save_file({k: v.half().contiguous() for k, v in hed.HED().state_dict().items()}, str(edges))
    base = inputs(tmp_path) + ["--limit-images", "2", "--batch", "2", "--resolution", "64", "--ae-resolution", "64",
            "--crops-per-image", "2", "--steps-encoder", "2", "--steps-ae", "5"]
    train.main(base + ["--work", str(tmp_path / "w0"), "--out", str(tmp_path / "plain"), "--steps-unet", "2"])
    out = tmp_path / "model"
    train.main(base + ["--work", str(tmp_path / "w1"), "--out", str(out), "--steps-unet", "3", "--edges", str(edges),
                       "--init-unet", str(tmp_path / "plain")])
    cache = torch.load(tmp_path / "w1" / "latents-hed.pt")
    assert cache["edges"].shape[1:] == (hed.CELL ** 2 + 5, 8, 8)
    config = json.loads((out / "config.json").read_text())
    assert config["edges"] == {"type": "hed", "weights": "edges.safetensors"}
    assert load_file(out / "edges.safetensors").keys() == load_file(edges).keys()
    plain, grown = load_file(tmp_path / "plain" / "unet.safetensors"), load_file(out / "unet.safetensors")
    assert grown["conv_in.weight"].shape[1] == plain["conv_in.weight"].shape[1] + hed.CELL ** 2 + 5
    agreement, segments = parity.compare(str(out), PHOTOS[0], testing.binary("debug"), steps=2)
    assert segments >= 1 and agreement >= 0.999, (agreement, segments)


def test_mobilenet_v2_encoder_trains_exports_and_matches(tmp_path):
    """The ImageNet MobileNetV2 encoder: backbone maps cached, fusion head trained with the
    UNet, BatchNorm folded at export; Swift segments like PyTorch with it."""
    work, out = tmp_path / "work", tmp_path / "model"
    args = inputs(tmp_path) + ["--work", str(work), "--out", str(out), "--limit-images", "2", "--batch", "2",
            "--encoder", "mobilenet_v2",
            "--resolution", "64", "--ae-resolution", "64", "--crops-per-image", "2", "--steps-ae", "5", "--steps-unet", "4"]
    train.main(args)
    cache = torch.load(work / "latents-mobilenet_v2.pt")
    assert [cache[k].shape[1:] for k in train.TAP_KEYS] == [(32, 8, 8), (96, 4, 4), (320, 2, 2)]
    assert "image" not in cache
    before = torch.load(work / "unet-mobilenet_v2.pt")["model"]
    config = json.loads((out / "config.json").read_text())
    assert config["image_encoder"]["type"] == "mobilenet_v2"
    # Resuming trains the head on: its weights move, the frozen backbone's do not.
    train.main(args[:-1] + ["6"])
    after = torch.load(work / "unet-mobilenet_v2.pt")["model"]
    assert not torch.equal(before["encoder.fuse.out.weight"], after["encoder.fuse.out.weight"])
    assert torch.equal(before["encoder.features.5.conv.1.0.weight"], after["encoder.features.5.conv.1.0.weight"])
    binary = testing.binary("debug")
    agreement, segments = parity.compare(str(out), PHOTOS[0], binary, steps=2)
    assert segments >= 1 and agreement >= 0.999, (agreement, segments)


def test_block_cells_cover_a_random_third_to_two_thirds():
    for seed in range(20):
        cells = train.block_cells(32, 32, seed)
        assert 0.3 <= cells.float().mean() <= 0.95 and not cells.all()
        assert torch.equal(cells, train.block_cells(32, 32, seed))
    assert not torch.equal(train.block_cells(32, 32, 1), train.block_cells(32, 32, 2))
