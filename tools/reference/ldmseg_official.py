"""LDMSeg's evaluation path as the paper's code runs it, rewritten here from a reading of
segments-ai/latent-diffusion-segmentation (HEAD 66b4d17) for checking converted checkpoints.

It differs from `ldmseg_reference.Pipeline` (segserve's own models) where the official code does:
- the image is resized to `size x size` with PIL's antialiased BICUBIC on 8-bit pixels, aspect
  ratio not kept, never padded (`ldmseg/data/util/pil_transforms.py`, `CropResize`);
- the SD VAE encodes `2x - 1` and its posterior mode is scaled (`encode_inputs`);
- with self-conditioning the UNet input is [noisy mask latent, image latent, previous x0
  estimate], the estimate zeros at the first step (`sample`);
- DDIM, eta 0, no clipping, final alpha `alphas_cumprod[0]`, timesteps shifted by `r - 1`
  (`ldmseg/schedulers/ddim_scheduler.py`);
- decoded logits are upsampled x2, then to the input size, then to the original size, all
  bilinear; slot 0 (the ignore label) is void like small and low-overlap segments (`compute_pq`).
The initial noise is given (the official code draws it from a CPU generator seeded 42).
"""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class OfficialSampler:
    def __init__(self, unet, vae, mask_ae, image_scale=0.18215, mask_scale=0.18215, size=512, self_condition=True,
                 ignore_label=0, train_steps=1000, beta_start=0.00085, beta_end=0.012):
        self.unet, self.vae, self.mask_ae = unet, vae, mask_ae
        self.image_scale, self.mask_scale, self.size = image_scale, mask_scale, size
        self.self_condition, self.ignore_label = self_condition, ignore_label
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, train_steps, dtype=torch.float32) ** 2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.train_steps = train_steps

    def timesteps(self, steps):
        ratio = self.train_steps // steps
        return [int(t) for t in (np.arange(0, steps) * ratio).round()[::-1] + ratio - 1]

    def image_latent(self, image):
        """uint8 [H, W, 3] -> scaled posterior mode of the squashed image."""
        pil = Image.fromarray(image).resize((self.size, self.size), resample=Image.BICUBIC, reducing_gap=None)
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)[None].float() / 255
        return self.vae.encode(2 * x - 1).latent_dist.mode() * self.image_scale

    @torch.no_grad()
    def sample(self, rgb_latent, noise, steps):
        latents, ratio = noise.clone(), self.train_steps // steps
        condition = torch.zeros_like(latents)
        ts = self.timesteps(steps)
        for i, t in enumerate(ts):
            parts = [latents, rgb_latent] + ([condition] if self.self_condition else [])
            eps = self.unet(torch.cat(parts, dim=1), torch.tensor(t), encoder_hidden_states=None).sample
            a = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[t - ratio] if t - ratio >= 0 else self.alphas_cumprod[0]
            x0 = (latents - (1 - a) ** 0.5 * eps) / a ** 0.5
            if self.self_condition:
                condition = x0
            latents = x0 if i == len(ts) - 1 else a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
        return latents

    @torch.no_grad()
    def segment(self, image, noise, steps, mask_th=0.5, count_th=512, overlap_th=0.5):
        """uint8 [H, W, 3] -> (panoptic ids [H, W], 0 void and slot s as s + 1; final latent)."""
        H, W = image.shape[:2]
        latents = self.sample(self.image_latent(image), noise, steps)
        logits = self.mask_ae.decode_full(latents / self.mask_scale)
        logits = F.interpolate(logits, size=(self.size, self.size), mode="bilinear", align_corners=False)
        logits = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)[0]
        pred = torch.argmax(logits, dim=0)
        pred[F.softmax(logits, dim=0).max(dim=0)[0] < mask_th] = -1
        sigmoid = torch.sigmoid(logits)
        for label, count in zip(*torch.unique(pred, return_counts=True)):
            label = int(label)
            if count < count_th or label in (-1, self.ignore_label):
                pred[pred == label] = -1
                continue
            if (pred == label).sum() / (sigmoid[label] >= mask_th).sum() < overlap_th:
                pred[pred == label] = -1
        return pred + 1, latents
