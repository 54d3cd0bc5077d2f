#!/usr/bin/env python3
"""Benchmark our Swift runtime against PyTorch (CPU, fp32) on the same modules and weights.

For each config: build the module with seeded random weights, count its FLOPs, time PyTorch
(one warm-up, then --runs timed runs, median), save the weights to a temporary safetensors
file, time `segserve-bench` on them the same way, and print both with the ratio.

    swift build -c release --product segserve-bench
    python3 tools/bench/bench.py [--runs 3] [--threads 2] [--only unet-small,taesd]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def unet(block_out, layers, heads, groups=32):
    from diffusers import UNet2DConditionModel
    m = UNet2DConditionModel(
        in_channels=8, out_channels=4, block_out_channels=block_out, layers_per_block=layers,
        down_block_types=("CrossAttnDownBlock2D",) * (len(block_out) - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (len(block_out) - 1),
        attention_head_dim=heads, norm_num_groups=groups, cross_attention_dim=block_out[-1])
    for mod in m.modules():  # LDMSeg removes the cross-attention
        if hasattr(mod, "attn2"):
            mod.attn2 = None
            mod.norm2 = None
    return m


def sd_vae():
    from diffusers import AutoencoderKL
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    return vae


def taesd():
    from ldmseg_reference import tiny_encoder
    return tiny_encoder(width=64, latent=32)


def mobilenet_v2():
    from mobilenet_v2 import MobileNetV2Encoder
    return MobileNetV2Encoder(latent=32, fuse=64)


CONFIGS = {
    "unet-sd": dict(kind="unet", shape=(8, 64, 64), heads=8, make=lambda: unet((320, 640, 1280, 1280), 2, 8)),
    "unet-small": dict(kind="unet", shape=(8, 64, 64), heads=8, make=lambda: unet((64, 128, 256), 1, 8)),
    "vae-sd": dict(kind="vae", shape=(3, 512, 512), heads=1, make=sd_vae),
    "taesd": dict(kind="taesd", shape=(3, 512, 512), heads=1, make=taesd),
    "mobilenet-v2": dict(kind="mobilenet_v2", shape=(3, 512, 512), heads=1, make=mobilenet_v2),
}


def count_flops(model, forward):
    """Multiply-adds x2 of convs, linears and attention products."""
    flops = [0]

    def conv_hook(m, inp, out):
        flops[0] += 2 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    def linear_hook(m, inp, out):
        flops[0] += 2 * out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif type(m).__name__ == "Attention":
            def attn_hook(m, inp, out):
                x = inp[0]
                n = x.shape[-1] * x.shape[-2] if x.dim() == 4 else x.shape[1]
                inner = m.to_q.out_features
                flops[0] += 2 * 2 * n * n * inner
            hooks.append(m.register_forward_hook(attn_hook))
    forward()
    for h in hooks:
        h.remove()
    return flops[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(CONFIGS))
    ap.add_argument("--peak-gflops", type=float, default=0, help="machine fp32 peak; measured sgemm if 0")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bench_bin = os.path.join(REPO, ".build", "release", "segserve-bench")
    peak = args.peak_gflops or measure_sgemm(args.threads)
    print(f"fp32 reference peak: {peak:.0f} GFLOPS ({'given' if args.peak_gflops else 'best torch sgemm'}), threads {args.threads}")
    print(f"{'config':<12}{'GFLOP':>8}{'torch ms':>11}{'ours ms':>10}{'ratio':>7}{'ours GFLOPS':>13}{'% peak':>8}{'ours RSS MB':>13}")
    for name in args.only.split(","):
        cfg = CONFIGS[name]
        model = cfg["make"]().eval()
        module = model.encoder if cfg["kind"] == "vae" else model
        x = torch.randn(1, *cfg["shape"])
        if cfg["kind"] == "unet":
            fwd = lambda: model(x, 500, encoder_hidden_states=None).sample
        elif cfg["kind"] == "vae":
            fwd = lambda: model.quant_conv(model.encoder(x))
        else:
            fwd = lambda: model(x)
        with torch.no_grad():
            flops = count_flops(module if cfg["kind"] != "vae" else model, fwd)
            fwd()
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter(); fwd(); times.append((time.perf_counter() - t0) * 1000)
        torch_ms = sorted(times)[len(times) // 2]
        state = model.state_dict()
        if cfg["kind"] == "mobilenet_v2":
            from mobilenet_v2 import fold_batchnorm
            state = fold_batchnorm(model)
        if cfg["kind"] == "vae":
            state = {k: v for k, v in state.items() if k.startswith(("encoder.", "quant_conv."))}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "weights.safetensors")
            save_file({k: v.contiguous() for k, v in state.items()}, path)
            del model, state
            out = subprocess.run([bench_bin, "--module", cfg["kind"], "--weights", path,
                                  "--shape", ",".join(map(str, cfg["shape"])), "--heads", str(cfg["heads"]),
                                  "--runs", str(args.runs), "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
        ours = json.loads(out.strip().splitlines()[-1])
        gflop = flops / 1e9
        ours_gflops = gflop / (ours["median_ms"] / 1000)
        print(f"{name:<12}{gflop:>8.1f}{torch_ms:>11.1f}{ours['median_ms']:>10.1f}{ours['median_ms'] / torch_ms:>7.2f}"
              f"{ours_gflops:>13.1f}{100 * ours_gflops / peak:>7.0f}%{ours['peak_rss_mb']:>13}")
    print(f"torch process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


def measure_sgemm(threads):
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = 0
    for _ in range(5):
        t0 = time.perf_counter(); a @ b; dt = time.perf_counter() - t0
        best = max(best, 2 * 2048 ** 3 / dt / 1e9)
    return best


if __name__ == "__main__":
    main()
