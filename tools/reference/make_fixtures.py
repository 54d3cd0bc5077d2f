#!/usr/bin/env python3
"""Golden fixtures for the Swift runtime, computed with PyTorch and diffusers on CPU.

Writes (all seeded, byte-identical on re-runs on one kind of CPU, a few MB in total):
  Tests/NNRuntimeTests/Fixtures/ops.safetensors       one case per op: `<case>.<role>` tensors,
                                                       parameters in metadata["cases"] (JSON)
  Tests/LDMSegTests/Fixtures/<module>.safetensors     a module's state_dict + `__input__.*` /
                                                       `__output__.*`, its config in metadata["config"]

Tensors drop the batch dimension: maps are [C, H, W], tokens [N, C].

    python3 tools/reference/make_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from segtools.modeldir import write_model_dir

OPS_OUT = os.path.join("Tests", "NNRuntimeTests", "Fixtures")
MODULES_OUT = os.path.join("Tests", "LDMSegTests", "Fixtures")
ROOT = REPO  # where the Tests/ folders are written; --out-root changes it


def randomize(module, gen, scale=0.5):
    """Seeded non-trivial parameters: norms near 1, biases non-zero, weights ~ fan-in scaled."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1 and ("norm" in name or name.endswith(".weight")):
                if name.endswith("weight"):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(scale * torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def remove_cross_attention(unet):
    """LDMSeg drops attn2/norm2 from every transformer block."""
    for m in unet.modules():
        if hasattr(m, "attn2") and hasattr(m, "norm2") and hasattr(m, "attn1"):
            m.attn2 = None
            m.norm2 = None


def save(path, tensors, metadata):
    path = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: v.detach().float().clone().contiguous() for k, v in tensors.items()}, path,
              metadata={k: json.dumps(v, sort_keys=True) for k, v in metadata.items()})


def ops_fixture():
    g = torch.Generator().manual_seed(1234)
    t, cases = {}, {}

    def add(name, params, **tensors):
        cases[name] = params
        for role, v in tensors.items():
            t[f"{name}.{role}"] = v

    x = torch.randn(1, 5, 9, 11, generator=g)
    for name, stride, pad, bias in [("conv2d_k3s1p1", 1, (1, 1, 1, 1), True), ("conv2d_k3s2p1", 2, (1, 1, 1, 1), True),
                                    ("conv2d_k3s2p1_nobias", 2, (1, 1, 1, 1), False),
                                    ("conv2d_k3s2_pad0101", 2, (0, 0, 1, 1), True)]:
        w = torch.randn(7, 5, 3, 3, generator=g) * 0.3
        b = torch.randn(7, generator=g) if bias else None
        top, left, bottom, right = pad
        y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride)
        extra = {"bias": b} if bias else {}
        add(name, {"stride": stride, "padding": list(pad)}, input=x[0], weight=w, output=y[0], **extra)
    w = torch.randn(7, 5, 1, 1, generator=g) * 0.3
    b = torch.randn(7, generator=g)
    add("conv2d_k1", {"stride": 1, "padding": [0, 0, 0, 0]}, input=x[0], weight=w, bias=b, output=F.conv2d(x, w, b)[0])

    xt = torch.randn(1, 6, 5, 7, generator=g)
    w = torch.randn(6, 4, 2, 2, generator=g) * 0.3
    b = torch.randn(4, generator=g)
    add("conv_transpose2d_k2s2", {}, input=xt[0], weight=w, bias=b, output=F.conv_transpose2d(xt, w, b, stride=2)[0])

    xl = torch.randn(13, 24, generator=g)
    w = torch.randn(10, 24, generator=g) * 0.3
    b = torch.randn(10, generator=g)
    add("linear", {}, input=xl, weight=w, bias=b, output=F.linear(xl, w, b))

    xg = torch.randn(1, 8, 6, 5, generator=g) * 2 + 0.5
    w, b = 1 + 0.1 * torch.randn(8, generator=g), torch.randn(8, generator=g) * 0.1
    add("group_norm", {"groups": 4, "eps": 1e-6}, input=xg[0], weight=w, bias=b, output=F.group_norm(xg, 4, w, b, 1e-6)[0])
    w2, b2 = 1 + 0.1 * torch.randn(24, generator=g), torch.randn(24, generator=g) * 0.1
    add("layer_norm", {"eps": 1e-5}, input=xl, weight=w2, bias=b2, output=F.layer_norm(xl, (24,), w2, b2, 1e-5))
    u = xg.mean(1, keepdim=True)
    s = (xg - u).pow(2).mean(1, keepdim=True)
    ln2d = w[:, None, None] * ((xg - u) / torch.sqrt(s + 1e-6)) + b[:, None, None]
    add("layer_norm2d", {"eps": 1e-6}, input=xg[0], weight=w, bias=b, output=ln2d[0])

    xa = torch.linspace(-6, 6, 1000)
    for name, fn in [("silu", F.silu), ("gelu", F.gelu), ("relu", F.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid)]:
        add(name, {}, input=xa, output=fn(xa))
    xgg = torch.randn(13, 48, generator=g)
    a, gate = xgg.chunk(2, dim=-1)
    add("geglu", {}, input=xgg, output=a * F.gelu(gate))
    xs = torch.randn(7, 33, generator=g) * 3
    add("softmax", {}, input=xs, output=torch.softmax(xs, dim=-1))

    for name, n, heads, d in [("attention_small", 37, 2, 16), ("attention_long", 1500, 2, 8), ("attention_wide", 300, 2, 40)]:
        q, k, v = (torch.randn(n, heads * d, generator=g) for _ in range(3))
        split = lambda z: z.view(n, heads, d).transpose(0, 1)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(0, 1).reshape(n, heads * d)
        add(name, {"heads": heads}, q=q, k=k, v=v, output=o)

    xr = torch.randn(1, 3, 5, 7, generator=g)
    add("resize_nearest_x2", {}, input=xr[0], output=F.interpolate(xr, scale_factor=2, mode="nearest")[0])
    add("resize_nearest_up", {}, input=xr[0], output=F.interpolate(xr, size=(13, 18), mode="nearest")[0])
    add("resize_bilinear_up", {}, input=xr[0], output=F.interpolate(xr, size=(13, 18), mode="bilinear", align_corners=False)[0])
    add("resize_bilinear_x2", {}, input=xr[0], output=F.interpolate(xr, scale_factor=2, mode="bilinear", align_corners=False)[0])
    xd = torch.randn(1, 3, 20, 17, generator=g)
    add("resize_bilinear_down", {}, input=xd[0], output=F.interpolate(xd, size=(7, 9), mode="bilinear", align_corners=False)[0])

    from diffusers.models.embeddings import get_timestep_embedding
    steps = torch.tensor([0.0, 1.0, 500.0, 999.0])
    add("timestep_embedding", {"flip_sin_to_cos": True, "downscale_freq_shift": 0.0}, t=steps,
        output=get_timestep_embedding(steps, 32, flip_sin_to_cos=True, downscale_freq_shift=0))
    add("timestep_embedding_shift1", {"flip_sin_to_cos": False, "downscale_freq_shift": 1.0}, t=steps,
        output=get_timestep_embedding(steps, 32, flip_sin_to_cos=False, downscale_freq_shift=1))
    # Cases added later draw from their own generator, so the ones above keep their values.
    g2 = torch.Generator().manual_seed(4321)
    add("relu6", {}, input=xa, output=F.relu6(xa))
    for name, stride, c, h, w in [("depthwise_s1", 1, 24, 17, 23), ("depthwise_s2", 2, 16, 18, 15), ("depthwise_s2_odd", 2, 8, 9, 7)]:
        xd = torch.randn(1, c, h, w, generator=g2)
        wd = torch.randn(c, 1, 3, 3, generator=g2) * 0.3
        bd = torch.randn(c, generator=g2)
        add(name, {"stride": stride}, input=xd[0], weight=wd, bias=bd,
            output=F.conv2d(xd, wd, bd, stride=stride, padding=1, groups=c)[0])
    # Antialiased bicubic (PIL's BICUBIC filter in float): shrink by non-integer factors, and grow.
    g3 = torch.Generator().manual_seed(5678)
    for name, (h, w), size in [("resize_bicubic_aa_down", (23, 31), (8, 12)), ("resize_bicubic_aa_mixed", (9, 40), (16, 13)),
                               ("resize_bicubic_aa_up", (5, 7), (13, 18))]:
        xb = torch.rand(1, 3, h, w, generator=g3)
        add(name, {}, input=xb[0], output=F.interpolate(xb, size=size, mode="bicubic", antialias=True, align_corners=False)[0])
    # Antialiased bilinear (PIL's BILINEAR, a triangle widened by the scale when shrinking).
    g4 = torch.Generator().manual_seed(8765)
    for name, (h, w), size in [("resize_bilinear_aa_down", (23, 31), (8, 12)), ("resize_bilinear_aa_mixed", (9, 40), (16, 13))]:
        xb = torch.rand(1, 3, h, w, generator=g4)
        add(name, {}, input=xb[0], output=F.interpolate(xb, size=size, mode="bilinear", antialias=True, align_corners=False)[0])
    save(os.path.join(OPS_OUT, "ops.safetensors"), t, {"cases": cases})


def module_fixture(name, module, config, inputs, outputs):
    tensors = dict(module.state_dict())
    tensors.update({f"__input__.{k}": v for k, v in inputs.items()})
    tensors.update({f"__output__.{k}": v for k, v in outputs.items()})
    save(os.path.join(MODULES_OUT, f"{name}.safetensors"), tensors, {"config": config})


@torch.no_grad()
def diffusers_fixtures():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    g = torch.Generator().manual_seed(99)

    cfg = dict(in_channels=32, out_channels=64, temb_channels=128, groups=8, eps=1e-5)
    m = ResnetBlock2D(**cfg).eval()
    randomize(m, g)
    x, temb = torch.randn(1, 32, 8, 8, generator=g), torch.randn(1, 128, generator=g)
    module_fixture("resnet_block", m, cfg, {"x": x[0], "temb": temb[0]}, {"y": m(x, temb)[0]})

    for name, linear in [("transformer2d", False), ("transformer2d_linear", True)]:
        cfg = dict(num_attention_heads=2, attention_head_dim=16, in_channels=32, norm_num_groups=8,
                   cross_attention_dim=32, use_linear_projection=linear)
        m = Transformer2DModel(**cfg).eval()
        remove_cross_attention(m)
        randomize(m, g)
        x = torch.randn(1, 32, 8, 8, generator=g)
        module_fixture(name, m, cfg, {"x": x[0]}, {"y": m(x).sample[0]})

    unets = [
        ("unet_tiny", dict(in_channels=8, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                           down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                           up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
                           norm_num_groups=8, cross_attention_dim=32), (8, 16, 16), 500.0),
        ("unet_tiny3", dict(in_channels=8, out_channels=4, block_out_channels=(16, 32, 32), layers_per_block=2,
                            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                            attention_head_dim=[2, 4, 4], norm_num_groups=8, cross_attention_dim=32,
                            use_linear_projection=True), (8, 16, 24), 37.0),
    ]
    for name, cfg, shape, step in unets:
        m = UNet2DConditionModel(**cfg).eval()
        remove_cross_attention(m)
        randomize(m, g)
        x = torch.randn(1, *shape, generator=g)
        y = m(x, torch.tensor([step]), encoder_hidden_states=None).sample
        module_fixture(name, m, {**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}, "timestep": step},
                       {"x": x[0]}, {"y": y[0]})

    cfg = dict(in_channels=3, latent_channels=4, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8,
               down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    vae = AutoencoderKL(**cfg).eval()
    randomize(vae, g)
    x = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    mean = vae.encode(x).latent_dist.mean
    state = {k: v for k, v in vae.state_dict().items() if k.startswith(("encoder.", "quant_conv."))}
    tensors = dict(state, **{"__input__.x": x[0], "__output__.mean": mean[0]})
    save(os.path.join(MODULES_OUT, "vae_encoder.safetensors"), tensors,
         {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}})


@torch.no_grad()
def ldmseg_fixtures():
    from diffusers import UNet2DConditionModel
    from segtools.reference import ldmseg_reference as ref

    g = torch.Generator().manual_seed(7)
    enc = ref.tiny_encoder(width=16, latent=8).eval()
    randomize(enc, g)
    x = torch.rand(1, 3, 32, 32, generator=g)
    module_fixture("taesd_encoder", enc, {"width": 16, "latent": 8, "pool_blocks": [11, 12, 13]},
                   {"x": x[0]}, {"latent": enc(x)[0]})

    ae_cfg = dict(block_out=(8, 16, 16, 32), int_channels=32, groups=8)
    ae = ref.MaskAutoencoder(**ae_cfg).eval()
    randomize(ae, g)
    slots = torch.randint(0, 128, (32, 32), generator=g)
    bits = ref.bit_encode(slots)
    mean = ae.encode(bits[None])
    module_fixture("mask_ae", ae, {k: list(v) if isinstance(v, tuple) else v for k, v in ae_cfg.items()},
                   {"slots": slots.float(), "bits": bits},
                   {"mean": mean[0], "logits": ae.decode(mean)[0], "logits_x2": ae.decode_full(mean)[0]})

    ddim = ref.LDMSegDDIM()
    steps = 5
    x0 = torch.randn(4, 6, 6, generator=g)
    eps = torch.randn(steps, 4, 6, 6, generator=g)
    xt = x0
    traj = []
    for i, t in enumerate(ddim.timesteps(steps)):
        xt = ddim.step(xt, eps[i], t, steps, i == steps - 1)
        traj.append(xt)
    save(os.path.join(MODULES_OUT, "ddim.safetensors"),
         {"__input__.x": x0, "__input__.eps": eps,
          "__output__.trajectory": torch.stack(traj), "__output__.timesteps": torch.tensor(ddim.timesteps(steps)).float()},
         {"config": {"steps": steps}})

    dpm_solver_fixture()
    tiny_model(g, ref, UNet2DConditionModel)
    tiny_edges_model(ref, UNet2DConditionModel)
    default_model()
    mobilenet_v2_fixture()
    hed_fixture()
    edge_watershed_fixture()


@torch.no_grad()
def mobilenet_v2_fixture():
    """A narrow MobileNetV2 encoder (width 0.25) with random weights and BatchNorm statistics,
    folded as exported, on a 64x96 picture."""
    from segtools.reference.mobilenet_v2 import MobileNetV2Encoder, fold_batchnorm

    g = torch.Generator().manual_seed(11)
    cfg = {"latent": 8, "fuse": 16, "width_mult": 0.25}
    enc = MobileNetV2Encoder(**cfg).eval()
    randomize(enc, g)
    for m in enc.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    x = torch.rand(1, 3, 64, 96, generator=g)
    tensors = dict(fold_batchnorm(enc), **{"__input__.x": x[0], "__output__.latent": enc(x)[0]})
    save(os.path.join(MODULES_OUT, "mobilenet_v2_encoder.safetensors"), tensors, {"config": cfg})


@torch.no_grad()
def hed_fixture():
    """A narrow HED (VGG16's layout, fewer channels) with random weights on an odd-sized picture,
    so ceil-mode pooling and the side outputs' non-integer upsampling are both exercised."""
    from segtools.reference.hed import HED, preprocess

    g = torch.Generator().manual_seed(13)
    blocks = [[2, 8], [2, 8], [3, 16], [3, 16], [3, 16]]
    net = HED(blocks).eval()
    randomize(net, g, scale=1.5)
    rgb = torch.rand(1, 3, 37, 45, generator=g)
    logits = torch.cat(net.side_logits(preprocess(rgb * 255)), dim=1)
    module_fixture("hed", net, {"blocks": blocks}, {"rgb": rgb[0]}, {"logits": logits[0]})


def edge_watershed_fixture():
    """Regions of a smooth random edge map by scikit-image (Gaussian, h-minima markers, watershed),
    and a blocky, speckled segmentation of the same picture at 1.5x snapped to them."""
    import numpy as np
    from segtools.train.edge_prior import snap, watershed_regions

    rng = np.random.default_rng(17)
    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    edges = np.zeros((h, w))
    for _ in range(6):  # ridges along random lines, as edges of objects look
        a, b, c = rng.normal(size=3)
        edges = np.maximum(edges, np.exp(-((a * x + b * y) / np.hypot(a, b) - c * 20 - 24) ** 2 / 8))
    edges = np.clip(edges + 0.05 * rng.random((h, w)), 0, 1).astype(np.float32)
    sigma, depth = 1.0, 0.2
    labels = watershed_regions(edges, sigma, depth)
    # A segmentation of the same picture at 1.5x to snap: blocks of a few ids, speckle, void.
    ids = np.kron(rng.integers(0, 4, size=(6, 8)), np.ones((12, 12), dtype=np.int64))
    ids[rng.random(ids.shape) < 0.1] = 5
    snapped = snap(ids, edges, depth, min_area=40, sigma=sigma, first_free=129)
    save(os.path.join(MODULES_OUT, "edge_watershed.safetensors"),
         {"__input__.edges": torch.from_numpy(edges), "__output__.labels": torch.from_numpy(labels.astype(np.float32)),
          "__input__.ids": torch.from_numpy(ids.astype(np.float32)), "__output__.snapped": torch.from_numpy(snapped.astype(np.float32))},
         {"config": {"sigma": sigma, "depth": depth, "min_area": 40}})


@torch.no_grad()
def default_model():
    """The shipped model (models/default) on a small picture: two DDIM steps, one run, every slot
    kept, with segserve's own seeded noise, so the Swift test checks the real weights end to end."""
    from segtools.train import parity

    pipe, _ = parity.load_pipeline(os.path.join(REPO, "models", "default"))
    H, W, steps, seed, resolution = 64, 96, 2, 5, 256
    thresholds = {"mask_th": 0.001, "count_th": 0, "overlap_th": 0.0}
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    image = torch.stack([x * 255 // (W - 1), y * 255 // (H - 1), ((x // 24 + y // 16) % 2) * 200], dim=-1).to(torch.uint8)
    _, _, ph, pw = pipe.working_size(H, W, resolution)
    noise = parity.gaussian_noise(seed, (1, pipe.mask_ae.latent, ph // 8, pw // 8))
    ids, image_latent, latent = pipe.segment(image, noise, steps, resolution, thresholds)
    save(os.path.join(MODULES_OUT, "default_model_io.safetensors"), {
        "__input__.image": image.float(), "__input__.noise": noise[0],
        "__output__.image_latent": image_latent[0], "__output__.latent": latent[0], "__output__.ids": ids.float(),
    }, {"config": {"steps": steps, "seed": seed, "resolution": resolution, **thresholds}})


def tiny_config(name, steps, thresholds, **sections):
    """config.json of a tiny random model (TAESD-family encoder, 8 GroupNorm groups, 64 px)."""
    return {
        "format": "ldmseg", "format_version": 1, "name": name,
        "image_encoder": {"type": "taesd", "weights": "image_encoder.safetensors", "input_range": [0.0, 1.0],
                          "scaling_factor": 1.0},
        "mask_autoencoder": {"weights": "mask_autoencoder.safetensors", "scaling_factor": 0.2, "norm_num_groups": 8},
        "unet": {"weights": "unet.safetensors", "attention_head_dim": 2, "norm_num_groups": 8, "norm_eps": 1e-5,
                 "flip_sin_to_cos": True, "freq_shift": 0},
        "scheduler": {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                      "beta_schedule": "scaled_linear"},
        "inference": {"steps": steps, "resolution": 64, **thresholds},
        **sections,
    }


def tiny_model(g, ref, UNet2DConditionModel):
    """A whole model directory with random weights, and a segment + inpaint run through it."""
    enc = ref.tiny_encoder(width=16, latent=8).eval()
    ae = ref.MaskAutoencoder(block_out=(8, 16, 16, 32), int_channels=32, groups=8).eval()
    unet_cfg = dict(in_channels=4 + 8, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2,
                    norm_num_groups=8, cross_attention_dim=16)
    unet = UNet2DConditionModel(**unet_cfg).eval()
    remove_cross_attention(unet)
    for m in (enc, ae, unet):
        randomize(m, g)
    with torch.no_grad():  # keep the predicted x0, and so the mask latent, near unit scale
        unet.conv_out.weight.mul_(0.1)
        unet.conv_out.bias.mul_(0.1)
    # Four live slots with sharp logits, so post-processing keeps several segments; the
    # sharpness is the first (deterministic) choice that yields three segments and some void.
    last = ae.decoder[-1]
    base_weight = last.weight.detach().clone()
    bias = torch.full_like(last.bias, -30.0)
    bias[[3, 17, 42, 99]] = 0
    last.bias.data.copy_(bias)
    thresholds = {"mask_th": 0.5, "count_th": 8, "overlap_th": 0.2}
    config = tiny_config("tiny-random", steps=4, thresholds=thresholds)

    pipe = ref.Pipeline(enc, ae, unet)
    H, W, steps, resolution = 40, 56, 4, 64
    image = torch.randint(0, 256, (H, W, 3), generator=g, dtype=torch.uint8)
    noise = torch.randn(1, 4, 8, 8, generator=g)
    known_noise = torch.randn(1, 4, 8, 8, generator=g)
    for sharpness in (10, 5, 3, 2, 1, 0.5, 0.25):
        last.weight.data.copy_(base_weight * sharpness)
        ids, image_latent, latent = pipe.segment(image, noise, steps, resolution, thresholds)
        if len(ids.unique()) >= 4 and (ids == 0).any():
            break
    partial = torch.zeros(H, W, dtype=torch.long)
    partial[:20, :28] = 1000
    partial[20:, 28:] = 70000
    partial[:20, 28:] = 5
    known = torch.zeros(H, W, dtype=torch.bool)
    known[:20, :] = True
    known[20:, 28:] = True
    inpainted, inpaint_latent = pipe.inpaint(image, partial, known, noise, known_noise, steps, resolution, thresholds)
    assert len(ids.unique()) >= 4, f"segment produced {ids.unique().tolist()}"
    modules = {"image_encoder": enc.state_dict(), "mask_autoencoder": ae.state_dict(), "unet": unet.state_dict()}
    write_model_dir(os.path.join(ROOT, MODULES_OUT, "tiny_model"), config, modules, sort_keys=True)
    save(os.path.join(MODULES_OUT, "tiny_model_io.safetensors"), {
        "__input__.image": image.float(), "__input__.noise": noise[0], "__input__.known_noise": known_noise[0],
        "__input__.partial": partial.float(), "__input__.known": known.float(),
        "__output__.image_latent": image_latent[0], "__output__.latent": latent[0], "__output__.ids": ids.float(),
        "__output__.inpaint_latent": inpaint_latent[0], "__output__.inpainted": inpainted.float(),
    }, {"config": {"steps": steps, "resolution": resolution, **thresholds}})


@torch.no_grad()
def tiny_edges_model(ref, UNet2DConditionModel):
    """A tiny random model whose UNet also takes a narrow HED's conditioning maps (config.json
    `edges`), and a segment run through it."""
    from segtools.reference.hed import CELL, HED
    g = torch.Generator().manual_seed(19)
    enc = ref.tiny_encoder(width=8, latent=4).eval()
    ae = ref.MaskAutoencoder(block_out=(8, 8, 8, 16), int_channels=16, groups=8).eval()
    edges = HED([[2, 8], [2, 8], [3, 16], [3, 16], [3, 16]]).eval()
    unet = UNet2DConditionModel(in_channels=4 + 4 + CELL ** 2 + 5, out_channels=4, block_out_channels=(8, 16),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2,
                                norm_num_groups=8, cross_attention_dim=8).eval()
    remove_cross_attention(unet)
    for m in (enc, ae, unet):
        randomize(m, g)
    randomize(edges, g, scale=1.5)
    unet.conv_out.weight.mul_(0.1)
    unet.conv_out.bias.mul_(0.1)
    thresholds = {"mask_th": 0.001, "count_th": 0, "overlap_th": 0.0}
    config = tiny_config("tiny-random-edges", steps=3, thresholds=thresholds,
                         edges={"type": "hed", "weights": "edges.safetensors"})
    pipe = ref.Pipeline(enc, ae, unet, edges=edges)
    H, W, steps, resolution = 40, 56, 3, 64
    image = torch.randint(0, 256, (H, W, 3), generator=g, dtype=torch.uint8)
    noise = torch.randn(1, 4, 8, 8, generator=g)
    ids, conditioning, latent = pipe.segment(image, noise, steps, resolution, thresholds)
    modules = {"image_encoder": enc.state_dict(), "mask_autoencoder": ae.state_dict(), "unet": unet.state_dict(),
               "edges": edges.state_dict()}
    write_model_dir(os.path.join(ROOT, MODULES_OUT, "tiny_edges_model"), config, modules, sort_keys=True)
    save(os.path.join(MODULES_OUT, "tiny_edges_model_io.safetensors"), {
        "__input__.image": image.float(), "__input__.noise": noise[0],
        "__output__.conditioning": conditioning[0], "__output__.latent": latent[0], "__output__.ids": ids.float(),
    }, {"config": {"steps": steps, "resolution": resolution, **thresholds}})


def load_unet_tiny3():
    """The diffusers UNet of the unet_tiny3 fixture, with its config."""
    from diffusers import UNet2DConditionModel
    from safetensors import safe_open
    path = os.path.join(ROOT, MODULES_OUT, "unet_tiny3.safetensors")
    with safe_open(path, "pt") as f:
        config = json.loads(f.metadata()["config"])
        state = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(("__input__.", "__output__."))}
    cfg = {k: tuple(v) if isinstance(v, list) and k.endswith("_types") or k == "block_out_channels" else v
           for k, v in config.items() if k != "timestep"}
    m = UNet2DConditionModel(**cfg).eval()
    remove_cross_attention(m)
    m.load_state_dict(state)
    return m, config


@torch.no_grad()
def deep_cache_fixture():
    """On unet_tiny3's weights: a full UNet pass and its deep feature, then a DeepCache-shallow
    pass at another input and timestep that reuses it (`ldmseg_reference.unet_pass`)."""
    from segtools.reference.ldmseg_reference import unet_pass
    m, _ = load_unet_tiny3()
    g = torch.Generator().manual_seed(11)
    x, x2 = torch.randn(2, 1, 8, 16, 24, generator=g)
    y, deep = unet_pass(m, x, 37.0)
    y2, _ = unet_pass(m, x2, 18.0, deep=deep)
    save(os.path.join(MODULES_OUT, "unet_deep_cache.safetensors"),
         {"__input__.x": x[0], "__input__.x2": x2[0], "__output__.y": y[0], "__output__.deep": deep[0], "__output__.y2": y2[0]},
         {"config": {"weights": "unet_tiny3", "timesteps": [37.0, 18.0]}})


@torch.no_grad()
def token_merging_fixture(ratio=0.5):
    """On unet_tiny3's weights, a batch of two maps at two timesteps: a UNet pass whose top-level
    transformers merge half their tokens (`ldmseg_reference.token_merge`)."""
    from diffusers.models import Transformer2DModel
    from segtools.reference.ldmseg_reference import transformer_merging, unet_pass
    g = torch.Generator().manual_seed(13)
    # With nothing merged, the hand-written transformer is diffusers' (both projection kinds).
    for linear in (True, False):
        tr = Transformer2DModel(num_attention_heads=2, attention_head_dim=4, in_channels=8, norm_num_groups=4,
                                use_linear_projection=linear).eval()
        for block in tr.transformer_blocks:
            block.attn2 = block.norm2 = None
        h = torch.randn(1, 8, 6, 10, generator=g)
        assert torch.allclose(transformer_merging(tr, h, 0.0), tr(h, return_dict=False)[0], atol=1e-5)
    m, _ = load_unet_tiny3()
    x = torch.randn(2, 8, 16, 24, generator=g)
    t = torch.tensor([37.0, 18.0])
    y, _ = unet_pass(m, x, t, token_merging=ratio)
    plain, _ = unet_pass(m, x, t)
    assert (y - plain).abs().max() > 1e-4, "merging changes the output"
    save(os.path.join(MODULES_OUT, "unet_token_merging.safetensors"), {"__input__.x": x, "__output__.y": y},
         {"config": {"weights": "unet_tiny3", "timesteps": t.tolist(), "ratio": ratio}})


def dpm_solver_fixture(steps=6):
    """DPM-Solver++(2M) as diffusers runs it (midpoint, lower order at the end, final sigma zero)
    on segserve's DDIM timesteps, with the given epsilons: the trajectory after each step."""
    from segtools.reference import ldmseg_reference as ref
    g = torch.Generator().manual_seed(7)
    sched = ref.dpm_solver(ref.LDMSegDDIM().timesteps(steps))
    x = torch.randn(1, 4, 6, 6, generator=g)
    eps = torch.randn(steps, 4, 6, 6, generator=g)
    start, traj = x.clone(), []
    for i, t in enumerate(sched.timesteps):
        x = sched.step(eps[i:i + 1], t, x).prev_sample
        traj.append(x[0])
    save(os.path.join(MODULES_OUT, "dpm_solver.safetensors"),
         {"__input__.x": start[0], "__input__.eps": eps, "__output__.trajectory": torch.stack(traj),
          "__output__.timesteps": sched.timesteps.float()}, {"config": {"steps": steps}})


def main(out_root=REPO):
    global ROOT
    ROOT = out_root
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    ops_fixture()
    diffusers_fixtures()
    ldmseg_fixtures()
    deep_cache_fixture()
    token_merging_fixture()
    written = []
    for d in (OPS_OUT, MODULES_OUT):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".safetensors"):
                written.append(os.path.join(d, f))
    for name in ("tiny_model", "tiny_edges_model"):
        model_dir = os.path.join(MODULES_OUT, name)
        written += [os.path.join(model_dir, f) for f in sorted(os.listdir(os.path.join(ROOT, model_dir)))]
    return written


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-root", default=REPO, help="folder holding Tests/ (default: the repository)")
    args = ap.parse_args()
    for rel in main(args.out_root):
        print(f"{rel}: {os.path.getsize(os.path.join(args.out_root, rel)) / 1024:.0f} KiB")
