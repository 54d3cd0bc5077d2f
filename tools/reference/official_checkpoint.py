#!/usr/bin/env python3
"""Checkpoints laid out as the official LDMSeg trainer saves them (`construct_save_dict`), with
random weights: the input `segserve convert` and tools/convert_ldmseg.py are tested and timed on.

The dict holds `unet` (diffusers UNet2DConditionModel with the cross-attention removed and a wider
`new_conv` aliased as `conv_in`), `vae_image` (the Stable Diffusion VAE under diffusers 0.16
attention names), `vae_semseg` (the mask auto-encoder), `p` (the training config: base.yaml with
the released overrides) and the trainer's bookkeeping (`step`, `epoch`, `ema`, `opt`, `scaler`).
`main` writes the full-size model (SD v1 UNet and VAE, the paper's auto-encoder), about 3.5 GB:

    python3 tools/reference/official_checkpoint.py ldmseg-random.pt [--seed 0]
"""
import argparse
import copy

import torch

from segtools.reference import ldmseg_reference as ref

# diffusers 0.16 VAE attention names -> current ones; written here apart from the converters' own table,
# so a wrong name in theirs fails their tests.
OLD_VAE_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
# The paper's auto-encoder (base.yaml vae_model_kwargs).
PAPER_AE = {"in_channels": 7, "int_channels": 256, "out_channels": 128, "block_out_channels": [32, 64, 128, 256],
            "latent_channels": 4, "num_latents": 2, "num_upscalers": 2, "upscale_channels": 256, "norm_num_groups": 32,
            "scaling_factor": 0.18215, "parametrization": "gaussian", "act_fn": "none", "clamp_output": False,
            "num_mid_blocks": 0, "fuse_rgb": False, "resize_input": False, "skip_encoder": False}


def official_p(size=512, steps=50, self_condition=True, vae_kwargs=PAPER_AE):
    """The training config as the official trainer stores it (base.yaml + the released overrides)."""
    return {
        "pretrained_model_path": "CompVis/stable-diffusion-v1-4",
        "image_scaling_factor": 0.18215,
        "vae_model_kwargs": copy.deepcopy(vae_kwargs),
        "backbone": "unet",
        "model_kwargs": {"in_channels": 8, "init_mode_seg": "copy", "init_mode_image": "zero",
                         "cond_channels": 4 if self_condition else 0, "separate_conv": False, "separate_encoder": False,
                         "add_adaptor": False},
        "noise_scheduler_kwargs": {"prediction_type": "epsilon", "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
                                   "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1, "clip_sample": False,
                                   "set_alpha_to_one": False, "thresholding": False, "weight": "none"},
        "train_kwargs": {"self_condition": self_condition, "image_descriptors": "remove", "caption_type": "none"},
        "sampling_kwargs": {"num_inference_steps": steps, "guidance_scale": 7.5, "seed": 0},
        # training-time thresholds (train_diffusion.sh): converters must not take them
        "eval_kwargs": {"mask_th": 0.9, "count_th": 512, "overlap_th": 0.9},
        "transformation_kwargs": {"type": "crop_resize_pil", "size": size, "size_rgb": size, "max_size": size},
        "num_classes": 128, "num_bits": 7, "ignore_label": 0,
    }


def official_unet(block_out, layers, heads, groups, self_condition=True):
    """A diffusers UNet as the official code modifies it: cross-attention removed
    (`remove_cross_attention`) and a wider first convolution kept as `new_conv`, aliased as `conv_in`."""
    from diffusers import UNet2DConditionModel
    n = len(block_out)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, block_out_channels=block_out, layers_per_block=layers,
                                down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1), attention_head_dim=heads,
                                norm_num_groups=groups, cross_attention_dim=block_out[-1]).eval()
    for m in unet.modules():
        if hasattr(m, "attn2") and hasattr(m, "attn1"):
            m.attn2, m.norm2 = None, None
    new_conv = torch.nn.Conv2d(8 + (4 if self_condition else 0), block_out[0], 3, padding=1)
    unet.new_conv = new_conv
    unet.conv_in = new_conv
    return unet


def sd_vae(block_out=(128, 256, 512, 512), layers=2, groups=32):
    from diffusers import AutoencoderKL
    return AutoencoderKL(block_out_channels=block_out, layers_per_block=layers, norm_num_groups=groups, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()


def old_vae_names(state):
    """Current diffusers VAE attention keys -> the diffusers 0.16 names the official code saved."""
    new_to_old = {v: k for k, v in OLD_VAE_ATTENTION.items()}
    out = {}
    for k, v in state.items():
        for new, old in new_to_old.items():
            k = k.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        out[k] = v
    return out


def save(path, unet, vae, ae, p):
    torch.save({"step": 1, "epoch": 0, "vae_image": old_vae_names(vae.state_dict()), "vae_semseg": ae.state_dict(),
                "unet": unet.state_dict(), "ema": None, "opt": None, "p": p, "scaler": None}, path)


def full_size(path, seed=0, steps=50):
    """The paper's model shapes: SD v1 UNet (320-1280, 2 layers, 8 heads) with 12 input channels,
    the SD VAE, the paper's mask auto-encoder; seeded random weights. Returns (unet, vae, ae)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        unet, vae = official_unet((320, 640, 1280, 1280), 2, 8, 32), sd_vae()
        ae = ref.MaskAutoencoder(block_out=tuple(PAPER_AE["block_out_channels"]), int_channels=PAPER_AE["int_channels"],
                                 scaling_factor=PAPER_AE["scaling_factor"]).eval()
        save(path, unet, vae, ae, official_p(steps=steps))
    return unet, vae, ae


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=50, help="sampling_kwargs.num_inference_steps")
    args = ap.parse_args(argv)
    full_size(args.out, args.seed, args.steps)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
