#!/usr/bin/env python3
"""Convert an official LDMSeg checkpoint to a segserve model directory.

The checkpoint (`ldmseg.pt`, saved by the official trainer's `construct_save_dict`) is a torch
dict with
  unet        the UNet state_dict (diffusers UNet2DConditionModel keys, no cross-attention);
              `conv_in` takes [noisy mask latent 4, image latent 4, self-condition 4] channels
              and is stored twice, as `conv_in.*` and its alias `new_conv.*`
  vae_image   the Stable Diffusion VAE (diffusers 0.16 keys: the mid-block attention is
              `group_norm/query/key/value/proj_attn`); only `encoder.*` and `quant_conv.*` are used
  vae_semseg  the mask auto-encoder (GeneralVAESeg: encoder.N.* / decoder.N.*)
  p           the training config (vae_model_kwargs, model_kwargs, noise_scheduler_kwargs,
              train_kwargs, sampling_kwargs, transformation_kwargs, ignore_label, ...)
A separate stage-1 auto-encoder file holds {"vae": state_dict} and replaces vae_semseg when given.
Keys may carry a `module.` prefix (DistributedDataParallel).

The model directory gets the official evaluation setup: the image squashed to `size x size`
with antialiased bicubic, self-conditioning when `conv_in` has 12 input channels, slot 0 (the
ignore label) void, mask latent scale 0.18215 unless `p` says otherwise, and the paper's
evaluation thresholds (mask_th 0.5, count_th 512, overlap_th 0.5; `p['eval_kwargs']` holds
training-time values). UNet and VAE hyper-parameters that shapes do not give come from the
diffusers configs of the model the checkpoint was fine-tuned from (Stable Diffusion v1.4
unless `--unet-config` / `--vae-config` name others). What segserve cannot run is refused
with the reason.

    python3 tools/convert_ldmseg.py ldmseg.pt out_dir [--ae ae.pt] [--dtype float16]
"""
import argparse
import json
import os
import sys

import torch

from segtools.modeldir import write_model_dir

# diffusers configs of CompVis/stable-diffusion-v1-4 (unet/config.json, vae/config.json): the keys used here.
SD_V1_UNET = {"attention_head_dim": 8, "norm_num_groups": 32, "norm_eps": 1e-5, "flip_sin_to_cos": True, "freq_shift": 0}
SD_V1_VAE = {"norm_num_groups": 32}
# tools/configs/base/base.yaml eval_kwargs and tools/scripts/eval.sh of the official code.
PAPER_THRESHOLDS = {"mask_th": 0.5, "count_th": 512, "overlap_th": 0.5}
RELEASED_MASK_SCALE = 0.18215  # eval.sh and train_diffusion.sh set it; base.yaml's 0.2 is overridden
# diffusers 0.16 VAE attention names -> current ones.
OLD_VAE_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


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


def section(p, name):
    v = p.get(name)
    return v if isinstance(v, dict) else {}


def refuse_unsupported(p, unet):
    """Raises for the official options whose models segserve does not compute."""
    model, vae, train = section(p, "model_kwargs"), section(p, "vae_model_kwargs"), section(p, "train_kwargs")
    sched = section(p, "noise_scheduler_kwargs")
    checks = [
        (model.get("separate_conv") or any(k.startswith("conv_in_seg.") for k in unet),
         "model_kwargs.separate_conv (a second input convolution for the mask latent)"),
        (model.get("separate_encoder") or any(k.startswith(("conv_in_img.", "down_blocks_additional.")) for k in unet),
         "model_kwargs.separate_encoder (a second UNet encoder for the image)"),
        (any(k.startswith(("encoder_hid_proj.", "object_queries.")) or ".attn2." in k for k in unet),
         "cross-attention conditioning (image descriptors, text or object queries)"),
        (train.get("image_descriptors", "remove") != "remove", f"train_kwargs.image_descriptors={train.get('image_descriptors')}"),
        (sched.get("prediction_type", "epsilon") != "epsilon", f"noise_scheduler_kwargs.prediction_type={sched.get('prediction_type')}"),
        (sched.get("beta_schedule", "scaled_linear") not in ("scaled_linear", "linear"),
         f"noise_scheduler_kwargs.beta_schedule={sched.get('beta_schedule')}"),
        (bool(sched.get("clip_sample", False)), "noise_scheduler_kwargs.clip_sample=True"),
        (bool(sched.get("set_alpha_to_one", False)), "noise_scheduler_kwargs.set_alpha_to_one=True"),
        (vae.get("parametrization", "gaussian") != "gaussian", f"vae_model_kwargs.parametrization={vae.get('parametrization')}"),
        (int(vae.get("num_mid_blocks", 0) or 0) > 0, "vae_model_kwargs.num_mid_blocks > 0"),
        (bool(vae.get("fuse_rgb")) or bool(vae.get("resize_input")) or bool(vae.get("skip_encoder")),
         "vae_model_kwargs.fuse_rgb/resize_input/skip_encoder"),
    ]
    for bad, what in checks:
        if bad:
            raise ConversionError(f"unsupported: {what}")


def drop_conv_in_alias(unet):
    """The official UNet assigns `conv_in = new_conv`, so both names are saved (one storage)."""
    alias = {k: v for k, v in unet.items() if k.startswith("new_conv.")}
    for k, v in alias.items():
        target = "conv_in." + k[len("new_conv."):]
        if target not in unet or unet[target].shape != v.shape or not torch.equal(unet[target], v):
            raise ConversionError(f"'{k}' is not an alias of '{target}'")
    return {k: v for k, v in unet.items() if k not in alias}


def rename_old_vae_attention(state):
    out = {}
    for k, v in state.items():
        head, _, leaf = k.rpartition(".")
        parent, _, name = head.rpartition(".")
        if ".attentions." in k and name in OLD_VAE_ATTENTION:
            k = f"{parent}.{OLD_VAE_ATTENTION[name]}.{leaf}"
        out[k] = v
    return out


def read_config(path, defaults):
    if not path:
        return dict(defaults)
    with open(path) as f:
        given = json.load(f)
    return {k: given.get(k, v) for k, v in defaults.items()}


def convert(checkpoint, out, ae_file=None, dtype=torch.float32, unet_config=None, vae_config=None):
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
    refuse_unsupported(p, unet)
    unet = drop_conv_in_alias(unet)
    image = rename_old_vae_attention({k: v for k, v in image.items() if k.startswith(("encoder.", "quant_conv."))})
    semseg = {k: v for k, v in semseg.items() if k.startswith(("encoder.", "decoder."))}

    mask_latent = unet["conv_out.weight"].shape[0]
    image_latent = image["quant_conv.weight"].shape[0] // 2
    in_channels = unet["conv_in.weight"].shape[1]
    if in_channels not in (mask_latent + image_latent, 2 * mask_latent + image_latent):
        raise ConversionError(f"conv_in takes {in_channels} channels; expected {mask_latent + image_latent} "
                              f"or {2 * mask_latent + image_latent} (with self-conditioning)")
    self_condition = in_channels == 2 * mask_latent + image_latent
    train = section(p, "train_kwargs")
    if "self_condition" in train and bool(train["self_condition"]) != self_condition:
        raise ConversionError(f"train_kwargs.self_condition={train['self_condition']} but conv_in takes {in_channels} channels")

    vae_kwargs, sched = section(p, "vae_model_kwargs"), section(p, "noise_scheduler_kwargs")
    sampling, transform = section(p, "sampling_kwargs"), section(p, "transformation_kwargs")
    unet_cfg, vae_cfg = read_config(unet_config, SD_V1_UNET), read_config(vae_config, SD_V1_VAE)
    size = int(transform.get("size", 512))
    config = {
        "format": "ldmseg", "format_version": 1,
        "name": os.path.splitext(os.path.basename(checkpoint))[0],
        "image_encoder": {"type": "sd_vae", "weights": "image_encoder.safetensors", "input_range": [-1.0, 1.0],
                          "scaling_factor": float(p.get("image_scaling_factor", 0.18215)),
                          "norm_num_groups": int(vae_cfg["norm_num_groups"])},
        "mask_autoencoder": {"weights": "mask_autoencoder.safetensors",
                             "scaling_factor": float(vae_kwargs.get("scaling_factor", RELEASED_MASK_SCALE)),
                             "norm_num_groups": int(vae_kwargs.get("norm_num_groups", 32)),
                             "void_slot": int(p.get("ignore_label", 0))},
        "unet": {"weights": "unet.safetensors", "attention_head_dim": unet_cfg["attention_head_dim"],
                 "norm_num_groups": int(unet_cfg["norm_num_groups"]), "norm_eps": float(unet_cfg["norm_eps"]),
                 "flip_sin_to_cos": bool(unet_cfg["flip_sin_to_cos"]), "freq_shift": float(unet_cfg["freq_shift"]),
                 "self_conditioning": self_condition},
        "scheduler": {"num_train_timesteps": int(sched.get("num_train_timesteps", 1000)),
                      "beta_start": float(sched.get("beta_start", 0.00085)),
                      "beta_end": float(sched.get("beta_end", 0.012)),
                      "beta_schedule": sched.get("beta_schedule", "scaled_linear")},
        "preprocessing": {"resize": "squash", "interpolation": "bicubic", "pad_multiple": 64},
        "inference": {"steps": int(sampling.get("num_inference_steps", 50)), "resolution": size, **PAPER_THRESHOLDS},
    }
    write_model_dir(out, config, {"unet": unet, "image_encoder": image, "mask_autoencoder": semseg}, dtype)
    return config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--ae", help="separate stage-1 auto-encoder checkpoint ({'vae': state_dict})")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    ap.add_argument("--unet-config", help="diffusers unet/config.json of the base model (default: Stable Diffusion v1.4)")
    ap.add_argument("--vae-config", help="diffusers vae/config.json of the base model (default: Stable Diffusion v1.4)")
    args = ap.parse_args(argv)
    try:
        convert(args.checkpoint, args.out, args.ae, getattr(torch, args.dtype), args.unet_config, args.vae_config)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
