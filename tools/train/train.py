#!/usr/bin/env python3
"""Train segserve's default LDMSeg model on CPU or GPU and export it as a model directory.

Stages (each checkpointed under --work, resumable, seeded, logged to <work>/log.csv):
  encoder  fine-tune the TAESD-family image encoder (initialised from TAEF2: weights/taef2 under --inputs)
           to give the same latents under photometric augmentation (distillation from the
           frozen original);
  ae       the mask auto-encoder (LDMSeg GeneralVAESeg layout): cross-entropy over 128 slots,
           void ignored, on randomly remapped instance ids;
  unet     the denoising UNet on (noisy mask latent || image latent [|| HED conditioning with
           --edges]), epsilon-MSE weighted by
           min(SNR, 5) / SNR, AdamW with warm-up and cosine decay over --steps-unet, time
           embedding frozen; latents are cached per crop; a share of samples practise
           inpainting (block masks of known cells, as the sampler treats them); with
           --mask-unknown, latent cells whose pixels are mostly unannotated are not scored;
  export   config.json + safetensors into --out (docs/model-directory.md).

    python3 tools/train/train.py --out models/default --minutes-encoder 3 --minutes-ae 6 --minutes-unet 20
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tqdm import tqdm

from segtools.train import data
from segtools.reference import hed
from segtools.reference import ldmseg_reference as ref
from segtools.reference import mobilenet_v2 as mnv2
from segtools.modeldir import write_model_dir

UNET_CONFIG = dict(block_out_channels=(48, 96, 192), layers_per_block=1,
                   down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                   up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                   attention_head_dim=4, norm_num_groups=16, cross_attention_dim=192)


class Logger:
    def __init__(self, path):
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)

    def __call__(self, stage, step, loss, **extra):
        self.writer.writerow([time.strftime("%Y-%m-%dT%H:%M:%S"), stage, step, f"{loss:.6f}",
                              json.dumps(extra, sort_keys=True)])
        self.file.flush()


def timed_steps(minutes, max_steps, desc):
    """Yields step indices until the step or time budget runs out, with a tqdm bar (loss, ETA)."""
    deadline = time.time() + 60 * minutes
    bar = tqdm(total=max_steps, desc=desc, dynamic_ncols=True)
    step = 0
    while step < max_steps and time.time() < deadline:
        yield step, bar
        step += 1
        bar.update(1)
    bar.close()


def checkpoint(path, **state):
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def resume(path, module, optimizer):
    """Loads a stage checkpoint into `module` and `optimizer` (AdamW moments; checkpoints
    without them resume with fresh ones) if there is one; returns the steps already done."""
    if not os.path.exists(path):
        return 0
    state = torch.load(path, map_location="cpu")
    module.load_state_dict(state["model"])
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return state["step"]


def load_teacher(inputs):
    enc = ref.tiny_encoder(width=64, latent=32)
    enc.load_state_dict(torch.load(os.path.join(inputs, "weights", "taef2", "taef2_encoder.pth"), map_location="cpu"))
    return enc.eval().requires_grad_(False)


TAP_KEYS = ("tap8", "tap16", "tap32")


def mobilenet_encoder(args):
    """MobileNetV2 on ImageNet weights: the backbone stays frozen (BatchNorm statistics too,
    folded at export); the fusion head trains with the UNet on cached backbone maps."""
    enc = mnv2.MobileNetV2Encoder(latent=32, fuse=64)
    path = os.path.join(args.inputs, "weights", "mobilenet_v2", "mobilenet_v2-b0353104.pth")
    enc.load_torchvision(torch.load(path, map_location="cpu", weights_only=True))
    enc.eval()
    enc.features.requires_grad_(False)
    return enc.to(args.device)


def train_encoder(args, log, loader):
    path = os.path.join(args.work, "encoder.pt")
    teacher = load_teacher(args.inputs).to(args.device)
    student = ref.tiny_encoder(width=64, latent=32)
    student.load_state_dict(teacher.state_dict())
    student.to(args.device)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr_encoder, weight_decay=0)
    start = resume(path, student, opt)
    it = iter(loader)
    done = start
    for step, bar in timed_steps(args.minutes_encoder, args.steps_encoder - start, "encoder"):
        pixels = next(it)[0].to(args.device)
        with torch.no_grad():
            target = teacher(pixels)
            noisy = (pixels + 0.03 * torch.randn_like(pixels)).clamp(0, 1)
            jittered = (noisy * torch.empty(pixels.shape[0], 1, 1, 1, device=args.device).uniform_(0.85, 1.15)).clamp(0, 1)
        loss = F.mse_loss(student(jittered), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        log("encoder", start + step, loss.item())
        done = start + step + 1
        if (step + 1) % 50 == 0:
            checkpoint(path, model=student.state_dict(), optimizer=opt.state_dict(), step=done)
    checkpoint(path, model=student.state_dict(), optimizer=opt.state_dict(), step=done)
    return student.eval().requires_grad_(False)


def init_mask_autoencoder(ae, slots=128, bits=7):
    """Initialisation that lets the mask auto-encoder learn.

    With PyTorch's default initialisation (uniform, gain 1/sqrt(3), non-zero biases) the
    signal of the bit planes shrinks about 2x per layer through the 8 encoder convolutions:
    at the encoder's GroupNorm the difference between two slots is ~7% of the (bias-driven)
    activations, so the latent barely depends on the input and training stalls near chance
    (cross-entropy ~ln 128). Instead: He-normal weights with zero biases, so the bit planes
    reach the latent; and the last decoder convolution starts as a bit-code read-out (channel
    2k votes for bit k = 1, channel 2k+1 for bit k = 0, so slot s scores highest when the
    decoded features match its bits), which turns 128-way classification into recovering 7
    bits. Same layout and keys as before, so the runtime reads it unchanged.
    """
    for m in ae.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    out = ae.decoder[-1]
    with torch.no_grad():
        out.weight.mul_(0.1)
        out.bias.zero_()
        centre = out.weight.shape[-1] // 2
        for s in range(slots):
            for k in range(bits):
                sign = 1.0 if (s >> k) & 1 else -1.0
                out.weight[s, 2 * k, centre, centre] += sign
                out.weight[s, 2 * k + 1, centre, centre] -= sign
    return ae


def cosine_lr(step, total, base, warmup=100, floor=0.1):
    """Linear warm-up, then cosine decay to floor * base at `total` steps."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train_ae(args, log, loader):
    path = os.path.join(args.work, "ae.pt")
    ae = init_mask_autoencoder(ref.MaskAutoencoder()).to(args.device)
    opt = torch.optim.AdamW(ae.parameters(), lr=args.lr_ae, weight_decay=1e-4)
    start = resume(path, ae, opt)
    it = iter(loader)
    done = start
    for step, bar in timed_steps(args.minutes_ae, args.steps_ae - start, "mask-ae"):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(start + step, args.steps_ae, args.lr_ae)
        slots = next(it)[1].to(args.device)
        bits = torch.stack([ref.bit_encode(s) for s in slots])
        mean = ae.encode(bits)
        logits = ae.decode_full(mean)
        target = torch.where(slots > 0, slots, torch.full_like(slots, -100))  # void ignored
        ce = F.cross_entropy(logits, target, ignore_index=-100)
        loss = ce + 1e-4 * mean.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            valid = target >= 0
            acc = (logits.argmax(1)[valid] == target[valid]).float().mean().item() if valid.any() else 0.0
        bar.set_postfix(loss=f"{ce.item():.3f}", acc=f"{acc:.3f}")
        log("ae", start + step, ce.item(), pixel_accuracy=acc)
        done = start + step + 1
        if (step + 1) % 50 == 0:
            checkpoint(path, model=ae.state_dict(), optimizer=opt.state_dict(), step=done)
    checkpoint(path, model=ae.state_dict(), optimizer=opt.state_dict(), step=done)
    return ae.eval().requires_grad_(False)


def block_cells(h, w, seed, low=0.3, high=0.7):
    """Random known latent cells for inpainting practice: rectangles of random aspect are added
    until a random 30-70% of the h x w cells are covered (as LDMSeg's MaskingGenerator)."""
    rng = random.Random(seed)
    cells = torch.zeros(h, w, dtype=torch.bool)
    target = rng.uniform(low, high) * h * w
    for _ in range(100):
        if cells.sum() >= target:
            break
        area = rng.uniform(4, max(4.0, target / 3))
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
        bh = max(1, min(h, round(math.sqrt(area * aspect))))
        bw = max(1, min(w, round(math.sqrt(area / aspect))))
        y, x = rng.randint(0, h - bh), rng.randint(0, w - bw)
        cells[y:y + bh, x:x + bw] = True
    return cells


def known_cell_weight(known, factor, min_share=0.5):
    """Per-latent-cell loss weight [B, h, w] from known pixels [B, H, W]: 1 where at least
    `min_share` of the cell's factor x factor pixels are known, 0 where they are mostly unknown."""
    share = F.avg_pool2d(known.float().unsqueeze(1), factor).squeeze(1)
    return (share >= min_share).float()


@torch.no_grad()
def cache_latents(args, encoder, ae, dataset):
    """For a fixed pool of augmented crops: image latents, mask latents (unscaled), and for
    inpainting practice a block mask of known latent cells per crop with the latent of the
    partial map that knows only those cells' pixels (as inference encodes a partial map), and
    the known-cell weight of each crop's labels (`known_cell_weight`).

    Crops are seeded by index, so a cache of a smaller pool is the start of a larger one: a
    larger --crops-per-image encodes only the new crops and appends them. The mask latents'
    standard deviation (the diffusion's scale) stays that of the first pool, so a resumed UNet
    keeps its input scale."""
    # One cache per image encoder: TAESD latents, or MobileNetV2 backbone maps (TAP_KEYS); with
    # --edges, HED's conditioning maps too.
    name = "latents" if args.encoder == "taesd" else f"latents-{args.encoder}"
    path = os.path.join(args.work, f"{name}-hed.pt" if args.edges else f"{name}.pt")
    cache = torch.load(path) if os.path.exists(path) else None
    have = 0 if cache is None else cache["mask"].shape[0]
    if cache is not None and "partial" not in cache and (args.inpaint_fraction > 0 or have < len(dataset)):
        sys.exit(f"{path} has no partial-map latents: delete it, or train on its pool with --inpaint-fraction 0")
    if cache is not None and "mask_std" not in cache:  # caches written before the key existed
        cache["mask_std"] = cache["mask"].std()
    if cache is not None and "weight" not in cache and args.mask_unknown:
        sys.exit(f"{path} has no known-cell weights: delete it, or train without --mask-unknown")
    if have >= len(dataset):
        return {k: v if k == "mask_std" else v[:len(dataset)] for k, v in cache.items()}
    edges = hed.from_safetensors(args.edges).to(args.device) if args.edges else None
    images, masks, partials, cells, weights, conditions = [], [], [], [], [], []
    new = torch.utils.data.Subset(dataset, range(have, len(dataset)))
    for pixels, slots, annotated in tqdm(torch.utils.data.DataLoader(new, batch_size=16, shuffle=False, num_workers=args.workers),
                                         desc="cache latents"):
        pixels, slots = pixels.to(args.device), slots.to(args.device)
        images.append(encoder.taps(pixels) if args.encoder == "mobilenet_v2" else [encoder(pixels)])
        if edges is not None:
            conditions.append(hed.conditioning(edges, pixels).half())
        masks.append(ae.encode(torch.stack([ref.bit_encode(s) for s in slots])))
        h, w = masks[-1].shape[2:]
        factor = slots.shape[1] // h  # pixels per latent cell side
        first = have + len(cells)
        known = torch.stack([block_cells(h, w, seed=args.seed * 1_000_003 + first + i) for i in range(len(slots))])
        pixels_known = known.repeat_interleave(factor, 1).repeat_interleave(factor, 2).to(args.device)
        partials.append(ae.encode(torch.stack([ref.bit_encode(s, k) for s, k in zip(slots, pixels_known)])))
        cells.extend(known)
        weights.append(known_cell_weight(annotated, factor))
    keys = TAP_KEYS if args.encoder == "mobilenet_v2" else ("image",)
    added = {k: torch.cat([maps[i] for maps in images]).cpu() for i, k in enumerate(keys)}
    added.update({"mask": torch.cat(masks).cpu(), "partial": torch.cat(partials).cpu(),
                  "cells": torch.stack(cells), "weight": torch.cat(weights)})
    if edges is not None:
        added["edges"] = torch.cat(conditions).cpu()
    if cache is not None and "weight" not in cache:  # a cache written before the key existed
        del added["weight"]
    if cache is None:
        cache = dict(added, mask_std=added["mask"].std())
    else:
        cache.update({k: torch.cat([cache[k], added[k]]) for k in added})
    torch.save(cache, path)
    return cache


def make_unet(image_channels, self_condition=False):
    """With `self_condition` the UNet also takes its previous x0 estimate (4 more channels)."""
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel(in_channels=4 + image_channels + (4 if self_condition else 0), out_channels=4, **UNET_CONFIG)
    ref_remove = [m for m in unet.modules() if hasattr(m, "attn2") and hasattr(m, "attn1")]
    for m in ref_remove:  # LDMSeg: self-attention only
        m.attn2 = None
        m.norm2 = None
    return unet


class UNetStage(torch.nn.Module):
    """What the UNet stage trains: the UNet, and with a MobileNetV2 encoder its fusion head
    (the frozen backbone's maps are cached; the head learns with the UNet)."""

    def __init__(self, unet, encoder=None):
        super().__init__()
        self.unet = unet
        self.encoder = encoder

    def image_latent(self, cache, idx, device):
        """The UNet's conditioning: the image latent, then HED's maps where the cache has them."""
        if self.encoder is None:
            latent = cache["image"][idx].to(device)
        else:
            latent = self.encoder.head([cache[k][idx].to(device) for k in TAP_KEYS])
        if "edges" in cache:
            latent = torch.cat([latent, cache["edges"][idx].to(device).float()], dim=1)
        return latent


def train_unet(args, log, cache, mask_scale, encoder):
    path = os.path.join(args.work, "unet.pt" if args.encoder == "taesd" else f"unet-{args.encoder}.pt")
    fused = args.encoder == "mobilenet_v2"
    conditions = 32 + (cache["edges"].shape[1] if "edges" in cache else 0)
    model = UNetStage(make_unet(conditions, args.self_condition), encoder if fused else None).to(args.device)
    unet = model.unet
    unet.time_embedding.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr_unet, weight_decay=1e-2)
    start = resume(path, model if fused else unet, opt)
    if start == 0 and args.init_unet:
        # Fine-tuning: the denoiser of an exported model (same architecture) as the starting point;
        # input channels the source lacks (HED maps after its conditioning, self-condition)
        # start at zero, so it begins as the source did.
        state = {k: v.float() for k, v in load_file(os.path.join(args.init_unet, "unet.safetensors")).items()}
        conv_in = unet.conv_in.weight
        if state["conv_in.weight"].shape[1] < conv_in.shape[1]:
            grown = torch.zeros_like(conv_in)
            grown[:, :state["conv_in.weight"].shape[1]] = state["conv_in.weight"]
            state["conv_in.weight"] = grown
        unet.load_state_dict(state)
    ddim = ref.LDMSegDDIM()
    ac = ddim.alphas_cumprod.to(args.device)
    n = cache["mask"].shape[0]
    gen = torch.Generator().manual_seed(args.seed + 1 + start)
    done = start
    for step, bar in timed_steps(args.minutes_unet, args.steps_unet - start, "unet"):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(start + step, args.steps_unet, args.lr_unet)
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        z = cache["mask"][idx].to(args.device) * mask_scale
        # Inpainting practice: known cells hold the partial map's latent noised to t, as the
        # sampler overwrites them, and only the other cells are scored.
        practice = torch.rand(args.batch, generator=gen) < args.inpaint_fraction
        known = torch.zeros(args.batch, 1, *z.shape[2:], dtype=torch.bool)
        if practice.any():
            known[practice, 0] = cache["cells"][idx[practice]]
        known = known.to(args.device)
        img = model.image_latent(cache, idx, args.device)
        t = torch.randint(0, 1000, (args.batch,), generator=gen)
        eps = torch.randn(z.shape, generator=gen).to(args.device)
        a = ac[t.to(args.device)].view(-1, 1, 1, 1)
        noisy = a.sqrt() * z + (1 - a).sqrt() * eps
        if practice.any():
            partial = cache["partial"][idx].to(args.device) * mask_scale
            fresh = torch.randn(z.shape, generator=gen).to(args.device)
            noisy = torch.where(known, a.sqrt() * partial + (1 - a).sqrt() * fresh, noisy)
        inputs = [noisy, img]
        if args.self_condition:
            # Self-conditioning (Chen et al., Analog Bits; LDMSeg): half the samples see the model's
            # own x0 estimate from a first pass without gradient, the others zeros, as at the first
            # sampling step. Known cells' estimate is the partial map itself, as in the sampler.
            estimate = torch.zeros_like(noisy)
            use = (torch.rand(args.batch, generator=gen) < 0.5).to(args.device).view(-1, 1, 1, 1)
            if use.any():
                with torch.no_grad():
                    first = unet(torch.cat([noisy, img, estimate], 1), t.to(args.device),
                                 encoder_hidden_states=None).sample
                estimate = torch.where(use, (noisy - (1 - a).sqrt() * first) / a.sqrt(), estimate)
                if practice.any():
                    estimate = torch.where(known & use, partial, estimate)
            inputs.append(estimate)
        pred = unet(torch.cat(inputs, 1), t.to(args.device), encoder_hidden_states=None).sample
        snr = a / (1 - a)
        weight = torch.clamp(snr, max=5.0) / snr
        scored = (~known).float()
        if args.mask_unknown:  # unannotated cells are neither right nor wrong
            scored = scored * cache["weight"][idx].unsqueeze(1).to(args.device)
        count = scored.sum(dim=(1, 2, 3))
        per_sample = ((pred - eps).pow(2).mean(1, keepdim=True) * scored).sum(dim=(1, 2, 3)) / (
            count.clamp(min=1) if args.mask_unknown else count)
        loss = (weight.flatten() * per_sample).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        log("unet", start + step, loss.item())
        done = start + step + 1
        if (step + 1) % 100 == 0:
            checkpoint(path, model=(model if fused else unet).state_dict(), optimizer=opt.state_dict(), step=done)
    checkpoint(path, model=(model if fused else unet).state_dict(), optimizer=opt.state_dict(), step=done)
    return unet.eval()


def export(out, encoder, ae, unet, mask_scale, resolution, steps, thresholds, ensemble, name, encoder_type="taesd",
           self_condition=False, edges=None):
    """Writes the model directory; `thresholds` is (mask_th, count_th, overlap_th), `ensemble`
    the default test-time ensembling (seeds, flip), `edges` the HED conditioning the UNet takes."""
    config = {
        "format": "ldmseg", "format_version": 1, "name": name,
        "image_encoder": {"type": encoder_type, "weights": "image_encoder.safetensors", "input_range": [0.0, 1.0],
                          "scaling_factor": 1.0},
        "mask_autoencoder": {"weights": "mask_autoencoder.safetensors", "scaling_factor": round(float(mask_scale), 6),
                             "norm_num_groups": 32},
        "unet": {"weights": "unet.safetensors", "attention_head_dim": UNET_CONFIG["attention_head_dim"],
                 "norm_num_groups": UNET_CONFIG["norm_num_groups"], "norm_eps": 1e-5, "flip_sin_to_cos": True,
                 "freq_shift": 0, "self_conditioning": self_condition},
        "scheduler": {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                      "beta_schedule": "scaled_linear"},
        "inference": {"steps": steps, "resolution": resolution, "mask_th": thresholds[0], "count_th": thresholds[1],
                      "overlap_th": thresholds[2], "ensemble_seeds": ensemble[0], "flip": ensemble[1]},
    }
    encoder_state = mnv2.fold_batchnorm(encoder) if encoder_type == "mobilenet_v2" else encoder.state_dict()
    modules = {"image_encoder": encoder_state, "mask_autoencoder": ae.state_dict(), "unet": unet.state_dict()}
    if edges is not None:
        config["edges"] = {"type": "hed", "weights": "edges.safetensors"}
        modules["edges"] = edges.state_dict()
    write_model_dir(out, config, modules, torch.float16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--inputs", default=data.DEFAULT_INPUTS, help="the folder of weights/ (docs/model.md, Training data)")
    ap.add_argument("--work", default=os.path.join(data.REPO, "runs", "default"))
    ap.add_argument("--out", default=None, help="export the model directory here")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--ae-resolution", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crops-per-image", type=int, default=6)
    ap.add_argument("--limit-images", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--data", choices=("coco", "all"), default="coco",
                    help="coco: the coco-mini and coco-tiny train splits; all: every training set (data.training_sets), "
                         "things and stuff, drawn by set weight")
    ap.add_argument("--jitter", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                    help="large-scale jitter of the UNet crops: long side scaled by U(LOW, HIGH)")
    ap.add_argument("--copy-paste", type=float, default=0.0, help="chance a UNet crop gets objects pasted from another")
    ap.add_argument("--steps-encoder", type=int, default=300)
    ap.add_argument("--steps-ae", type=int, default=2000)
    ap.add_argument("--steps-unet", type=int, default=20000)
    ap.add_argument("--minutes-encoder", type=float, default=3)
    ap.add_argument("--minutes-ae", type=float, default=6)
    ap.add_argument("--minutes-unet", type=float, default=20)
    ap.add_argument("--inpaint-fraction", type=float, default=0.25,
                    help="share of UNet samples trained as inpainting (known latent cells given, not scored)")
    ap.add_argument("--mask-unknown", action="store_true",
                    help="score the UNet loss only on latent cells whose pixels are mostly annotated "
                         "(void in instance-only or partial images is unknown, not background)")
    ap.add_argument("--init-unet", default=None, help="start the UNet from this model directory's unet.safetensors")
    ap.add_argument("--self-condition", action="store_true",
                    help="train the UNet with self-conditioning (its previous x0 estimate as 4 more input channels)")
    ap.add_argument("--mask-scale", type=float, default=0, help="mask latent scale (0: 1 / std of the cached latents)")
    ap.add_argument("--lr-encoder", type=float, default=1e-5)
    ap.add_argument("--lr-ae", type=float, default=3e-4)
    ap.add_argument("--lr-unet", type=float, default=1e-4)
    ap.add_argument("--edges", help="an edges.safetensors (tools/export_hed.py): the UNet also takes HED's edge maps")
    ap.add_argument("--encoder", choices=("taesd", "mobilenet_v2"), default="taesd",
                    help="image encoder: TAEF2-initialised TAESD, or ImageNet MobileNetV2 with a fusion head")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    ap.add_argument("--workers", type=int, default=0, help="data-loading worker processes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inference-steps", type=int, default=20)
    # Post-processing thresholds written to config.json. LDMSeg's (0.5, 512, 0.5) suit a fully
    # trained model; a briefly trained one's softer logits need these (chosen on training images).
    ap.add_argument("--mask-th", type=float, default=0.3)
    ap.add_argument("--count-th", type=int, default=4096)
    ap.add_argument("--overlap-th", type=float, default=0.0)
    # Default test-time ensembling written to config.json (segmentation only): averaging a few
    # runs' logits smooths a small model's speckled samples (val PQ 8.2 -> 16.3 for 2 seeds + flip).
    ap.add_argument("--ensemble-seeds", type=int, default=2)
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    log = Logger(os.path.join(args.work, "log.csv"))
    weights = None
    if args.data == "all":
        samples, weights = data.mixed(data.training_sets(args.data_root))
    else:
        samples = data.load_splits(args.data_root, "train2017")
    if args.limit_images:
        samples, weights = samples[:args.limit_images], weights and weights[:args.limit_images]

    def loader(size, seed):
        ds = data.SegmentationCrops(samples, size, seed=seed, length=10 ** 7)
        return torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=False, num_workers=args.workers)

    if args.encoder == "mobilenet_v2":
        encoder = mobilenet_encoder(args)
    else:
        encoder = train_encoder(args, log, loader(args.ae_resolution, args.seed + 10))
    ae = train_ae(args, log, loader(args.ae_resolution, args.seed + 20))
    pool = data.SegmentationCrops(samples, args.resolution, seed=args.seed + 30, length=len(samples) * args.crops_per_image,
                                  weights=weights, jitter=args.jitter, copy_paste=args.copy_paste, with_known=True)
    cache = cache_latents(args, encoder, ae, pool)
    # Unit-variance mask latents for the diffusion; a fine-tuned UNet keeps the scale it learnt with.
    mask_scale = args.mask_scale or 1.0 / float(cache["mask_std"])
    unet = train_unet(args, log, cache, mask_scale, encoder)
    if args.out:
        export(args.out, encoder.cpu(), ae.cpu(), unet.cpu(), mask_scale, args.resolution, args.inference_steps,
               (args.mask_th, args.count_th, args.overlap_th), (args.ensemble_seeds, args.flip), "segserve-default",
               args.encoder, args.self_condition, hed.from_safetensors(args.edges) if args.edges else None)
    return args


if __name__ == "__main__":
    main()
