"""train.py --mask-unknown: known pixels -> per-latent-cell weights, and the masked UNet loss."""
import argparse
import os

import pytest
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.train import train


def test_cells_mostly_unknown_get_weight_zero():
    known = torch.zeros(2, 16, 16, dtype=torch.bool)
    known[0, :, :8] = True  # left column of cells known
    known[1, :8, :8] = True
    known[1, :4, 8:] = True  # exactly half of this cell: kept
    cell = torch.zeros(64, dtype=torch.bool)
    cell[:31] = True
    known[1, 8:, 8:] = cell.view(8, 8)  # 31 of 64: mostly unknown
    weight = train.known_cell_weight(known, 8)
    assert weight.shape == (2, 2, 2) and weight.dtype == torch.float32
    assert weight[0].tolist() == [[1, 0], [1, 0]]
    assert weight[1].tolist() == [[1, 1], [0, 0]]


def unet_args(tmp_path, mask_unknown):
    return argparse.Namespace(work=str(tmp_path), lr_unet=1e-4, steps_unet=1, minutes_unet=1, batch=2, seed=0,
                              inpaint_fraction=0.0, mask_unknown=mask_unknown, encoder="taesd", device="cpu",
                              init_unet=None, self_condition=False)


@pytest.mark.parametrize("mask_unknown", [True, False])
def test_unknown_cells_are_not_scored(tmp_path, mask_unknown):
    g = torch.Generator().manual_seed(0)
    cache = {"image": torch.randn(2, 32, 8, 8, generator=g), "mask": torch.randn(2, 4, 8, 8, generator=g),
             "partial": torch.zeros(2, 4, 8, 8), "cells": torch.zeros(2, 8, 8, dtype=torch.bool),
             "weight": torch.zeros(2, 8, 8)}
    losses = []
    train.train_unet(unet_args(tmp_path, mask_unknown), lambda stage, step, loss, **_: losses.append(loss), cache, 1.0,
                     encoder=None)
    assert (losses == [0.0]) == mask_unknown and all(torch.isfinite(torch.tensor(losses)))


def test_a_cache_without_weights_is_refused(tmp_path):
    torch.save({"image": torch.zeros(1, 32, 8, 8), "mask": torch.zeros(1, 4, 8, 8), "partial": torch.zeros(1, 4, 8, 8),
                "cells": torch.zeros(1, 8, 8, dtype=torch.bool), "mask_std": torch.tensor(1.0)}, tmp_path / "latents.pt")
    args = argparse.Namespace(work=str(tmp_path), inpaint_fraction=0.25, mask_unknown=True, seed=0, encoder="taesd", edges=None)
    with pytest.raises(SystemExit, match="known-cell weights"):
        train.cache_latents(args, None, None, [None])
