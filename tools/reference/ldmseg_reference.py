"""PyTorch reference of the LDMSeg inference path, exactly as segserve computes it.

Covers what diffusers does not provide: the TAESD-family image encoder, the LDMSeg mask
auto-encoder (`GeneralVAESeg` key layout), bit encoding, the LDMSeg DDIM sampler,
post-processing, and the segment / inpaint pipelines (docs/model-directory.md). The UNet is
diffusers' `UNet2DConditionModel` with cross-attention removed.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def conv3(n_in, n_out, **kw):
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)


class TinyBlock(nn.Module):
    """TAESD Block: relu(conv(x') + skip(x')), x' = x + pool(x) when a pool branch exists."""

    def __init__(self, n_in, n_out, pool=False):
        super().__init__()
        self.conv = nn.Sequential(conv3(n_in, n_out), nn.ReLU(), conv3(n_out, n_out), nn.ReLU(), conv3(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = nn.Sequential(nn.Conv2d(n_in, 4 * n_in, 1, bias=False), nn.GroupNorm(4, 4 * n_in), nn.ReLU(),
                                  nn.Conv2d(4 * n_in, n_in, 1, bias=False)) if pool else None

    def forward(self, x):
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def tiny_encoder(width=64, latent=32, pool_blocks=(11, 12, 13)):
    """TAESD-family encoder, state_dict indices as in taef2_encoder.pth; input RGB in [0, 1]."""
    layers = []
    for i in range(15):
        if i == 0:
            layers.append(conv3(3, width))
        elif i in (2, 6, 10):
            layers.append(conv3(width, width, stride=2, bias=False))
        elif i == 14:
            layers.append(conv3(width, latent))
        else:
            layers.append(TinyBlock(width, width, pool=i in pool_blocks))
    return nn.Sequential(*layers)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel (LDMSeg / detectron2)."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class MaskAutoencoder(nn.Module):
    """LDMSeg `GeneralVAESeg` (gaussian, no mid blocks): keys encoder.0-15 / decoder.0-10."""

    def __init__(self, bits=7, block_out=(32, 64, 128, 256), int_channels=256, latent=4, upscalers=2,
                 slots=128, groups=32, scaling_factor=0.2):
        super().__init__()
        enc = [nn.Conv2d(bits, block_out[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(block_out[:-1], block_out[1:]):
            enc += [nn.Conv2d(c_in, c_in, 3, padding=1), nn.Conv2d(c_in, c_out, 3, padding=1, stride=2), nn.SiLU()]
        enc += [nn.Conv2d(block_out[-1], int_channels, 3, padding=1), nn.Identity(),
                nn.GroupNorm(groups, int_channels, eps=1e-6), nn.SiLU(), nn.Conv2d(int_channels, 2 * latent, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(latent, int_channels, 3, padding=1), nn.Identity()]
        for _ in range(upscalers):
            dec += [nn.ConvTranspose2d(int_channels, int_channels, 2, stride=2), LayerNorm2d(int_channels), nn.SiLU()]
        dec += [nn.GroupNorm(groups, int_channels), nn.SiLU(), nn.Conv2d(int_channels, slots, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.latent = latent
        self.scaling_factor = scaling_factor
        self.interpolation = 2 ** (len(block_out) - 1) // 2 ** upscalers

    def encode(self, bits):
        return self.encoder(bits)[:, :self.latent]

    def decode(self, z):
        return self.decoder(z)

    def decode_full(self, z):
        logits = self.decoder(z)
        if self.interpolation != 1:
            logits = F.interpolate(logits, scale_factor=self.interpolation, mode="bilinear", align_corners=False)
        return logits


def bit_encode(slots, known=None, bits=7):
    """[H, W] int slots -> [bits, H, W]: bit k of the slot as +-1, unknown/void pixels 0."""
    known = slots != 0 if known is None else known
    out = torch.stack([((slots >> k) & 1).float() for k in range(bits)]) * 2 - 1
    return out * known[None].float()


class LDMSegDDIM:
    """DDIM, eta 0: timesteps (N-1)r ... 0 shifted by r-1, final alpha = alphas_cumprod[0]."""

    def __init__(self, train_steps=1000, beta_start=0.00085, beta_end=0.012):
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, train_steps, dtype=torch.float32) ** 2
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)
        self.train_steps = train_steps

    def timesteps(self, steps):
        r = self.train_steps // steps
        return [i * r + r - 1 for i in reversed(range(steps))]

    def previous_alpha(self, t, steps):
        prev = t - self.train_steps // steps
        return self.alphas_cumprod[prev] if prev >= 0 else self.alphas_cumprod[0]

    def step(self, x, eps, t, steps, last):
        a, ap = self.alphas_cumprod[t], self.previous_alpha(t, steps)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        return x0 if last else ap.sqrt() * x0 + (1 - ap).sqrt() * eps


def dpm_solver(timesteps):
    """DPM-Solver++(2M) as diffusers implements it (midpoint, first order at the first and last
    step, final sigma zero) on the given timesteps of the LDMSeg schedule."""
    from diffusers import DPMSolverMultistepScheduler
    solver = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                         beta_schedule="scaled_linear", algorithm_type="dpmsolver++", solver_order=2,
                                         solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")
    solver.set_timesteps(timesteps=list(timesteps))
    return solver


def token_merge(metric, height, width, ratio):
    """ToMe for SD's token merging (Bolya & Hoffman 2023) with fixed destinations, as segserve
    runs it: -> (merge, unmerge) for [B, N, C] tokens of a height x width map. The top-left token
    of every whole 2x2 cell is a destination, every other token a source; the int(ratio * N)
    sources whose cosine similarity (on `metric`) to their best destination is highest are
    averaged into it (ties: the first destination; equal scores in source order)."""
    B, N, _ = metric.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    is_dst = ((ys % 2 == 0) & (xs % 2 == 0) & (ys < height // 2 * 2) & (xs < width // 2 * 2)).flatten()
    dst_pos, src_pos = is_dst.nonzero()[:, 0], (~is_dst).nonzero()[:, 0]
    r = min(int(N * ratio), len(src_pos)) if len(dst_pos) else 0
    unit = metric / metric.norm(dim=-1, keepdim=True)
    scores = unit[:, src_pos] @ unit[:, dst_pos].transpose(1, 2)  # [B, Ns, Nd]
    best, target = scores.max(dim=-1)
    order = torch.argsort(best, dim=-1, descending=True, stable=True)
    kept, moved = order[:, r:], order[:, :r]
    into = target.gather(1, moved)  # [B, r]

    def rows(x, idx):
        return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))

    def merge(x):
        src, dst = x[:, src_pos], x[:, dst_pos]
        dst = dst.scatter_reduce(1, into[..., None].expand(-1, -1, x.shape[-1]), rows(src, moved), reduce="mean",
                                 include_self=True)
        return torch.cat([rows(src, kept), dst], 1)

    def unmerge(y):
        c, n_kept = y.shape[-1], kept.shape[1]
        dst = y[:, n_kept:]
        out = y.new_zeros(B, N, c)
        out[:, dst_pos] = dst
        out.scatter_(1, src_pos[kept][..., None].expand(-1, -1, c), y[:, :n_kept])
        out.scatter_(1, src_pos[moved][..., None].expand(-1, -1, c), rows(dst, into))
        return out

    return merge, unmerge


def transformer_merging(tr, x, ratio):
    """A diffusers Transformer2DModel (cross-attention removed) on [B, C, H, W] `x`, each
    block's self-attention on tokens merged by `token_merge` (planned on the block's input)."""
    b, c, height, width = x.shape
    h = tr.norm(x)
    if tr.use_linear_projection:
        h = tr.proj_in(h.permute(0, 2, 3, 1).reshape(b, height * width, c))
    else:
        h = tr.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(b, height * width, h.shape[1])
    for block in tr.transformer_blocks:
        merge, unmerge = token_merge(h, height, width, ratio)
        h = unmerge(block.attn1(merge(block.norm1(h)))) + h
        h = block.ff(block.norm3(h)) + h
    if tr.use_linear_projection:
        h = tr.proj_out(h).reshape(b, height, width, c).permute(0, 3, 1, 2)
    else:
        h = tr.proj_out(h.reshape(b, height, width, h.shape[-1]).permute(0, 3, 1, 2))
    return h + x


def unet_pass(unet, x, t, deep=None, token_merging=0.0):
    """A diffusers UNet (cross-attention removed) pass, full or DeepCache-shallow (Ma et al. 2024,
    the shallowest branch): -> (eps, deep). A full pass (`deep` None) also returns the hidden
    state entering the up path where the first down resnet's skip is taken back; a shallow pass
    reuses that state and runs conv_in, the first down resnet and the up path from there on.
    `token_merging` merges that ratio of the tokens before self-attention in the transformers of
    the highest resolution that has any (`token_merge`): the sample's own in SD's UNet."""
    emb = unet.time_embedding(unet.time_proj(torch.as_tensor(t).reshape(-1).expand(x.shape[0])).to(x.dtype))
    shallow = deep is not None
    merged = list(x.shape[2:])  # the map size of the first down block with transformers
    for block in unet.down_blocks:
        if getattr(block, "attentions", None) is not None:
            break
        if block.downsamplers is not None:
            merged = [(s + 1) // 2 for s in merged]
    h = unet.conv_in(x)
    skips = [h]

    def attend(block, j, h):
        attentions = getattr(block, "attentions", None)
        if attentions is None:
            return h
        if token_merging > 0 and list(h.shape[2:]) == merged:
            return transformer_merging(attentions[j], h, token_merging)
        return attentions[j](h, return_dict=False)[0]

    for block in unet.down_blocks:
        for j, resnet in enumerate(block.resnets):
            h = attend(block, j, resnet(h, emb))
            skips.append(h)
            if shallow and len(skips) == 2:
                break
        if shallow and len(skips) == 2:
            break
        if block.downsamplers is not None:
            h = block.downsamplers[0](h)
            skips.append(h)
    if not shallow:
        h = unet.mid_block(h, emb)
    point = sum(len(b.resnets) for b in unet.up_blocks) - 2
    index = 0
    for block in unet.up_blocks:
        for j, resnet in enumerate(block.resnets):
            if index == point:
                if shallow:
                    h = deep
                else:
                    deep = h
            if index >= point or not shallow:
                h = attend(block, j, resnet(torch.cat([h, skips.pop()], 1), emb))
            index += 1
        if block.upsamplers is not None and (not shallow or index > point):
            h = block.upsamplers[0](h, skips[-1].shape[2:])
    h = unet.conv_out(unet.conv_act(unet.conv_norm_out(h)))
    return h, deep


def postprocess(logits, height, width, mask_th=0.5, count_th=512, overlap_th=0.5, void_slot=None):
    """[S, h, w] logits -> [H, W] slots (-1 void): bilinear to H x W, argmax, void where the top
    softmax probability < mask_th, drop slots with < count_th pixels or whose argmax area over
    their sigmoid >= mask_th area is < overlap_th, and the void slot."""
    logits = F.interpolate(logits[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    prob, slot = torch.softmax(logits, 0).max(0)
    slot = torch.where(prob >= mask_th, slot, torch.full_like(slot, -1))
    sig_area = (logits >= math.log(mask_th / (1 - mask_th))).flatten(1).sum(1)
    for s in slot.unique().tolist():
        if s < 0:
            continue
        area = int((slot == s).sum())
        if s == void_slot or area < count_th or area / max(int(sig_area[s]), 1) < overlap_th:
            slot[slot == s] = -1
    return slot


class Pipeline:
    """segserve's path over a model directory's parts; `resize`, `interpolation`, `void_slot`,
    `self_condition` and `edges` (a `hed.HED`) mirror config.json's preprocessing,
    mask_autoencoder.void_slot, unet.self_conditioning and edges."""

    def __init__(self, image_encoder, mask_ae, unet, input_range=(0.0, 1.0), image_scale=1.0, size_multiple=64,
                 resize="longest_side", interpolation="bilinear", void_slot=None, self_condition=False, edges=None):
        self.image_encoder, self.mask_ae, self.unet, self.edges = image_encoder, mask_ae, unet, edges
        self.input_range, self.image_scale, self.multiple = input_range, image_scale, size_multiple
        self.resize, self.interpolation, self.void_slot = resize, interpolation, void_slot
        self.self_condition = self_condition
        self.ddim = LDMSegDDIM()
        self.sampler = "ddim"  # or "dpm-solver++"
        self.deep_cache = 1  # DeepCache: a full UNet pass every this many steps (`unet_pass`)

    def working_size(self, H, W, resolution):
        """(h, w, ph, pw): the image resized (longest side or both sides to `resolution`), then padded."""
        if self.resize == "squash":
            h = w = resolution
        else:
            scale = resolution / max(H, W)
            h, w = max(1, round(H * scale)), max(1, round(W * scale))
        return h, w, -(-h // self.multiple) * self.multiple, -(-w // self.multiple) * self.multiple

    def prepare(self, image, resolution):
        """uint8 [H, W, 3] -> (working h, w, padded pixels [1, 3, ph, pw], the UNet's conditioning:
        the image latent, then HED's maps with `edges`)."""
        H, W = image.shape[:2]
        h, w, ph, pw = self.working_size(H, W, resolution)
        if self.interpolation == "bicubic" and (h, w) != (H, W):  # PIL on 8-bit pixels, as LDMSeg's data pipeline
            pil = Image.fromarray(image.numpy()).resize((w, h), resample=Image.BICUBIC, reducing_gap=None)
            x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)[None].float() / 255
        else:
            x = image.permute(2, 0, 1)[None].float() / 255
            if (h, w) != (H, W):
                x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x = F.pad(x, (0, pw - w, 0, ph - h))
        lo, hi = self.input_range
        latent = self.image_encoder(x * (hi - lo) + lo) * self.image_scale
        if self.edges is not None:
            from segtools.reference import hed
            latent = torch.cat([latent, hed.conditioning(self.edges, x)], dim=1)
        return h, w, x * (hi - lo) + lo, latent

    def denoise(self, x, image_latent, steps, known=None):
        ts = self.ddim.timesteps(steps)
        solver = dpm_solver(ts) if self.sampler == "dpm-solver++" else None
        estimate = torch.zeros_like(x)  # self-conditioning: the previous x0 estimate
        deep = None
        for i, t in enumerate(ts):
            parts = [x, image_latent] + ([estimate] if self.self_condition else [])
            if self.deep_cache > 1:
                eps, deep = unet_pass(self.unet, torch.cat(parts, 1), t, deep if i % self.deep_cache else None)
            else:
                eps = self.unet(torch.cat(parts, 1), t, encoder_hidden_states=None).sample
            a = self.ddim.alphas_cumprod[t]
            estimate = (x - (1 - a).sqrt() * eps) / a.sqrt()
            last = i == len(ts) - 1
            x = solver.step(eps, t, x).prev_sample if solver else self.ddim.step(x, eps, t, steps, last)
            if known is not None:
                z, cells, noise = known
                a = torch.tensor(1.0) if last else self.ddim.alphas_cumprod[ts[i + 1]]
                x = torch.where(cells, a.sqrt() * z + (1 - a).sqrt() * noise, x)
                estimate = torch.where(cells, z, estimate)
        return x

    def encode_map(self, slots, known, h, w, ph, pw):
        """[H, W] slots and known pixels -> (scaled mask latent, known pixels) at the working size
        h x w, padded to ph x pw."""
        work = F.interpolate(slots[None, None].float(), size=(h, w), mode="nearest")[0, 0].long()
        work_known = F.interpolate(known[None, None].float(), size=(h, w), mode="nearest")[0, 0] > 0.5
        work = F.pad(work, (0, pw - w, 0, ph - h))
        work_known = F.pad(work_known, (0, pw - w, 0, ph - h))
        return self.mask_ae.encode(bit_encode(work, work_known)[None]) * self.mask_ae.scaling_factor, work_known

    def decode(self, latent, h, w, H, W, thresholds):
        logits = self.mask_ae.decode_full(latent / self.mask_ae.scaling_factor)[0][:, :h, :w]
        return postprocess(logits, H, W, **thresholds, void_slot=self.void_slot), logits

    def segment(self, image, noise, steps, resolution, thresholds):
        H, W = image.shape[:2]
        h, w, _, lat = self.prepare(image, resolution)
        latent = self.denoise(noise, lat, steps)
        slots, _ = self.decode(latent, h, w, H, W, thresholds)
        return torch.where(slots >= 0, slots + 1, torch.zeros_like(slots)), lat, latent

    def inpaint(self, image, partial, known, noise, known_noise, steps, resolution, thresholds):
        """partial: [H, W] int ids (0 void); known: [H, W] bool."""
        H, W = image.shape[:2]
        ids = []
        for v in partial[known].tolist():  # first appearance in raster order
            if v != 0 and v not in ids:
                ids.append(v)
        slot_of = {v: i + 1 for i, v in enumerate(ids)}
        slots = torch.zeros_like(partial)
        for v, s in slot_of.items():
            slots[(partial == v) & known] = s
        h, w, x, lat = self.prepare(image, resolution)
        ph, pw = x.shape[2:]
        z, work_known = self.encode_map(slots, known, h, w, ph, pw)
        f = ph // z.shape[2]
        cells = F.avg_pool2d(work_known[None, None].float(), f) >= 1.0
        latent = self.denoise(noise, lat, steps, known=(z, cells, known_noise))
        pred, _ = self.decode(latent, h, w, H, W, thresholds)
        base = max(ids) if ids else 0
        out = torch.zeros_like(partial)
        for s in pred.unique().tolist():
            if s < 0:
                continue
            out[pred == s] = ids[s - 1] if 1 <= s <= len(ids) else base + s + 1
        return torch.where(known, partial, out), latent
