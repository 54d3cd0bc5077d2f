#!/usr/bin/env python3
"""Convert an official LDMSeg checkpoint to a segserve model directory.

The checkpoint (`model.pt`) is a torch dict with
  unet        diffusers UNet2DConditionModel state_dict (conv_in takes 8 channels)
  vae_semseg  the mask auto-encoder (GeneralVAESeg: encoder.N.* / decoder.N.*)
  vae_image   the Stable Diffusion VAE encoder (diffusers AutoencoderKL encoder.* + quant_conv.*)
  p           the training config (vae_model_kwargs, model_kwargs, noise_scheduler_kwargs, eval_kwargs, ...)
A separate stage-1 auto-encoder file holds {"vae": state_dict} and replaces vae_semseg when given.
Keys may carry a `module.` prefix (DistributedDataParallel). Hyper-parameters come from `p`
where it has them, otherwise from the tensors and LDMSeg's defaults (DESIGN §2).

    python3 tools/convert_ldmseg.py model.pt out_dir [--ae ae.pt] [--dtype float16]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segtools.modeldir import write_model_dir  # noqa: E402


class ConversionError(Exception):
    pass


def strip(state, name):
    if not isinstance(state, dict) or not state:
        raise ConversionError(f"checkpoint has no '{name}' state_dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def require(state, keys, name):
    missing = [k for k in keys if k not in state]
    if missing:
        raise ConversionError(f"'{name}' lacks {', '.join(missing)}")


def section(p, *names):
    for n in names:
        if isinstance(p.get(n), dict):
            return p[n]
    return {}


def convert(checkpoint, out, ae_file=None, dtype=torch.float32):
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict):
        raise ConversionError(f"{checkpoint}: not a dict checkpoint")
    p = ckpt.get("p") or {}
    unet = strip(ckpt.get("unet"), "unet")
    image = strip(ckpt.get("vae_image"), "vae_image")
    semseg = strip(torch.load(ae_file, map_location="cpu", weights_only=False).get("vae") if ae_file else ckpt.get("vae_semseg"),
                   "vae" if ae_file else "vae_semseg")
    require(unet, ["conv_in.weight", "conv_out.weight", "time_embedding.linear_1.weight"], "unet")
    require(image, ["encoder.conv_in.weight", "quant_conv.weight"], "vae_image")
    require(semseg, ["encoder.0.weight", "decoder.0.weight"], "vae_semseg")
    # LDMSeg removes cross-attention; drop any leftovers rather than fail.
    unet = {k: v for k, v in unet.items() if ".attn2." not in k and ".norm2." not in k or "resnets" in k}
    image = {k: v for k, v in image.items() if k.startswith(("encoder.", "quant_conv."))}
    semseg = {k: v for k, v in semseg.items() if k.startswith(("encoder.", "decoder."))}

    vae_kwargs = section(p, "vae_model_kwargs")
    model_kwargs = section(p, "model_kwargs", "unet_kwargs")
    sched = section(p, "noise_scheduler_kwargs")
    ev = section(p, "eval_kwargs")
    heads = model_kwargs.get("attention_head_dim", 8)
    config = {
        "format": "ldmseg", "format_version": 1,
        "name": os.path.splitext(os.path.basename(checkpoint))[0],
        "image_encoder": {"type": "sd_vae", "weights": "image_encoder.safetensors", "input_range": [-1.0, 1.0],
                          "scaling_factor": float(p.get("image_scaling_factor", 0.18215)), "norm_num_groups": 32},
        "mask_autoencoder": {"weights": "mask_autoencoder.safetensors",
                             "scaling_factor": float(vae_kwargs.get("scaling_factor", 0.2)),
                             "norm_num_groups": int(vae_kwargs.get("norm_num_groups", 32))},
        "unet": {"weights": "unet.safetensors", "attention_head_dim": heads,
                 "norm_num_groups": int(model_kwargs.get("norm_num_groups", 32)),
                 "norm_eps": float(model_kwargs.get("norm_eps", 1e-5)),
                 "flip_sin_to_cos": bool(model_kwargs.get("flip_sin_to_cos", True)),
                 "freq_shift": float(model_kwargs.get("freq_shift", 0))},
        "scheduler": {"num_train_timesteps": int(sched.get("num_train_timesteps", 1000)),
                      "beta_start": float(sched.get("beta_start", 0.00085)),
                      "beta_end": float(sched.get("beta_end", 0.012)),
                      "beta_schedule": sched.get("beta_schedule", "scaled_linear")},
        "inference": {"steps": int(ev.get("num_inference_steps", 50)), "resolution": int(p.get("image_size", 512)),
                      "mask_th": float(ev.get("mask_th", 0.5)), "count_th": int(ev.get("count_th", 512)),
                      "overlap_th": float(ev.get("overlap_th", 0.5))},
    }
    write_model_dir(out, config, {"unet": unet, "image_encoder": image, "mask_autoencoder": semseg}, dtype)
    return config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--ae", help="separate stage-1 auto-encoder checkpoint ({'vae': state_dict})")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    args = ap.parse_args(argv)
    try:
        convert(args.checkpoint, args.out, args.ae, getattr(torch, args.dtype))
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
