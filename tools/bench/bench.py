#!/usr/bin/env python3
"""Benchmark our Swift runtime against PyTorch (CPU, fp32) on the same modules and weights.

For each config: build the module with seeded random weights, count its FLOPs, save the
weights to a temporary safetensors file and start `segserve-bench --serve` on them; after one
warm-up each, PyTorch and ours alternate, one forward pass each per pair (A B A B), for
--pairs pairs. The table gives each side's median, and the median ratio with its min-max over
the pairs, so a noisy neighbour shows up as spread instead of as a wrong ratio. --baseline
adds a second segserve-bench binary (e.g. an earlier build) to every pair, in every variant.

Rows: the modules; `pipeline`, a default segmentation (the default model's steps, resolution,
seeds and flip) of a 512x512 photo, against the PyTorch reference pipeline doing the same runs;
`official`, the paper's full-size model (a random-weight checkpoint of the official layout and
shapes, converted by `segserve convert` to float16) segmenting a 512x512 photo at
--official-steps DDIM steps, against the paper's evaluation loop (`ldmseg_official.py`); and with
--service, images per minute of `segserve serve` at 1, 2, 4 and 8 concurrent clients.

    swift build -c release --product segserve-bench --product segserve
    python3 tools/bench/bench.py [--pairs 5] [--threads 2] [--only unet-small,taesd,pipeline] [--service 30]
"""
import argparse, json, os, platform, resource, statistics, subprocess, tempfile, time

import torch
from safetensors.torch import save_file

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
    from segtools.reference.ldmseg_reference import tiny_encoder
    return tiny_encoder(width=64, latent=32)


def mobilenet_v2():
    from segtools.reference.mobilenet_v2 import MobileNetV2Encoder
    return MobileNetV2Encoder(latent=32, fuse=64)


def hed():
    from segtools.reference.hed import HED
    return HED()


CONFIGS = {
    "unet-sd": dict(kind="unet", shape=(8, 64, 64), heads=8, make=lambda: unet((320, 640, 1280, 1280), 2, 8)),
    "unet-small": dict(kind="unet", shape=(8, 64, 64), heads=8, make=lambda: unet((64, 128, 256), 1, 8)),
    "vae-sd": dict(kind="vae", shape=(3, 512, 512), heads=1, make=sd_vae),
    "taesd": dict(kind="taesd", shape=(3, 512, 512), heads=1, make=taesd),
    "mobilenet-v2": dict(kind="mobilenet_v2", shape=(3, 512, 512), heads=1, make=mobilenet_v2),
    "hed": dict(kind="hed", shape=(3, 384, 384), heads=1, make=hed),
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


class Served:
    """A `segserve-bench --serve` process: one timed pass per request."""

    def __init__(self, binary, args):
        self.proc = subprocess.Popen([binary, *args, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def time_ms(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"segserve-bench exited with {self.proc.wait()}")
        return json.loads(line)["ms"]

    def close(self):
        self.proc.stdin.close()
        tail = self.proc.stdout.read().strip().splitlines()
        self.proc.wait()
        return json.loads(tail[-1])["peak_rss_mb"] if tail else -1


def alternate(torch_forward, served, pairs):
    """[torch ms], [[ms] per served]: the sides take turns, one pass each per pair."""
    torch_forward()
    torch_ms, ours_ms = [], [[] for _ in served]
    for _ in range(pairs):
        t0 = time.perf_counter()
        torch_forward()
        torch_ms.append((time.perf_counter() - t0) * 1000)
        for times, s in zip(ours_ms, served):
            times.append(s.time_ms())
    return torch_ms, ours_ms


def spread(ratios):
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"


def module_case(cfg, threads):
    """(GFLOP, torch forward, segserve-bench arguments, cleanup)."""
    model = cfg["make"]().eval().requires_grad_(False)
    x = torch.randn(1, *cfg["shape"])
    if cfg["kind"] == "unet":
        fwd = lambda: model(x, 500, encoder_hidden_states=None).sample
    elif cfg["kind"] == "vae":
        fwd = lambda: model.quant_conv(model.encoder(x))
    else:
        fwd = lambda: model(x)
    with torch.no_grad():
        flops = count_flops(model, fwd)
    state = model.state_dict()
    if cfg["kind"] == "mobilenet_v2":
        from segtools.reference.mobilenet_v2 import fold_batchnorm
        state = fold_batchnorm(model)
    if cfg["kind"] == "vae":
        state = {k: v for k, v in state.items() if k.startswith(("encoder.", "quant_conv."))}
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "weights.safetensors")
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    bench_args = ["--module", cfg["kind"], "--weights", path, "--shape", ",".join(map(str, cfg["shape"])),
                  "--heads", str(cfg["heads"]), "--threads", str(threads)]
    return flops / 1e9, torch.no_grad()(fwd), bench_args, tmp.cleanup


def pipeline_case(threads):
    """A default segmentation of a 512x512 photo: the reference pipeline runs the same seeds and
    flips, one after another (without the slot matching and averaging, a small share of the time)."""
    import numpy as np
    from PIL import Image
    from segtools.testing import PHOTOS
    from segtools.train import parity
    model_dir = os.path.join(REPO, "models", "default")
    pipe, config = parity.load_pipeline(model_dir)
    inference = config["inference"]
    tmp = tempfile.TemporaryDirectory()
    png = os.path.join(tmp.name, "image.png")
    Image.open(PHOTOS[0]).convert("RGB").resize((512, 512), Image.BILINEAR).save(png)
    image = torch.from_numpy(np.asarray(Image.open(png), dtype=np.uint8).copy())
    resolution, steps = inference["resolution"], inference["steps"]
    th = {"mask_th": inference["mask_th"], "count_th": inference["count_th"], "overlap_th": inference["overlap_th"]}
    _, _, ph, pw = pipe.working_size(512, 512, resolution)
    flips = [False, True] if inference.get("flip") else [False]

    @torch.no_grad()
    def fwd():
        for seed in range(inference.get("ensemble_seeds", 1)):
            for flip in flips:
                noise = parity.gaussian_noise(seed, (1, pipe.mask_ae.latent, ph // 8, pw // 8))
                pipe.segment(image.flip(1) if flip else image, noise, steps, resolution, th)
    bench_args = ["--module", "pipeline", "--model", model_dir, "--image", png, "--threads", str(threads)]
    return None, fwd, bench_args, tmp.cleanup


def official_case(threads, steps):
    """The paper's model end to end: the same random weights in PyTorch (fp32) and converted for us."""
    import numpy as np
    from PIL import Image
    from segtools.reference import official_checkpoint
    from segtools.reference.ldmseg_official import OfficialSampler
    from segtools.testing import PHOTOS
    from segtools.train.parity import gaussian_noise
    tmp = tempfile.TemporaryDirectory()
    checkpoint, model_dir = os.path.join(tmp.name, "ldmseg.pt"), os.path.join(tmp.name, "model")
    unet, vae, ae = official_checkpoint.full_size(checkpoint, steps=steps)
    subprocess.run([os.path.join(REPO, ".build", "release", "segserve"), "convert", checkpoint, model_dir], check=True,
                   capture_output=True)
    os.remove(checkpoint)
    png = os.path.join(tmp.name, "image.png")
    Image.open(PHOTOS[0]).convert("RGB").resize((512, 512), Image.BILINEAR).save(png)
    image = np.asarray(Image.open(png), dtype=np.uint8)
    sampler = OfficialSampler(unet, vae, ae, size=512)
    noise = gaussian_noise(0, (1, 4, 64, 64))
    bench_args = ["--module", "pipeline", "--model", model_dir, "--image", png, "--threads", str(threads)]
    return None, torch.no_grad()(lambda: sampler.segment(image, noise, steps)), bench_args, tmp.cleanup


def machine():
    info = open("/proc/cpuinfo").read()
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), platform.processor())
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, ISA {' '.join(isa) or 'baseline'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="alternating passes per side (at least 5 for a ratio)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join([*CONFIGS, "pipeline"]), help="rows (also: official)")
    ap.add_argument("--official-steps", type=int, default=50, help="DDIM steps of the official row")
    ap.add_argument("--baseline", help="a second segserve-bench binary, timed in the same pairs")
    ap.add_argument("--bf16", action="store_true", help="also time ours at --precision bf16, in the same pairs")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                    help="also time ours with these segserve-bench arguments, against torch in the same pairs "
                         "(e.g. 'bf16-dc2=--precision bf16 --deep-cache 2'); repeatable")
    ap.add_argument("--unbatched", action="store_true",
                    help="also time ours with --max-batch 1 (an ensemble's runs one at a time), in the same pairs")
    ap.add_argument("--service", type=float, default=0, help="seconds per client count for the service row (0: none)")
    ap.add_argument("--shared-passes", action="store_true",
                    help="service row: also servers with 2 workers, apart and sharing UNet passes (max_batch 8, 20 ms delay)")
    ap.add_argument("--peak-gflops", type=float, default=0, help="machine fp32 peak; measured sgemm if 0")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bench_bin = os.path.join(REPO, ".build", "release", "segserve-bench")
    # (column, binary, extra arguments), all timed in the same alternating pairs.
    variants = [("bf16", ["--precision", "bf16"])] if args.bf16 else []
    variants += [(v.split("=", 1)[0], v.split("=", 1)[1].split()) for v in args.variant]
    # A baseline runs every variant too, each compared with ours in that variant.
    sides = [("ours", bench_bin, [])] + [(name, bench_bin, extra) for name, extra in variants] \
        + ([("base", args.baseline, [])] + [(f"base {name}", args.baseline, extra) for name, extra in variants]
           if args.baseline else []) \
        + ([("unbatched", bench_bin, ["--max-batch", "1"])] if args.unbatched else [])
    versus = {column: i for i, (column, _, _) in enumerate(sides[:len(variants) + 1])}
    peak = args.peak_gflops or measure_sgemm(args.threads)
    print(f"{machine()}; threads {args.threads}; {args.pairs} alternating pairs; torch {torch.__version__}")
    print(f"fp32 reference peak: {peak:.0f} GFLOPS ({'given' if args.peak_gflops else 'best torch sgemm'})")
    header = f"{'config':<13}{'GFLOP':>7}{'torch ms':>10}{'ours ms':>10}{'ours/torch [min-max]':>22}{'% peak':>8}{'RSS MB':>8}"
    versus_torch = {name for name, _ in variants}
    for column, _, _ in sides[1:]:
        if column in versus_torch:
            header += f"{column + ' ms':>{max(10, len(column) + 4)}}{f'{column}/torch [min-max]':>{max(22, len(column) + 18)}}"
        else:
            ours_column = column.removeprefix("base ") if column.startswith("base ") else "ours"
            header += f"{column + ' ms':>{max(10, len(column) + 4)}}{f'{ours_column}/{column} [min-max]':>{max(27, len(column) * 2 + 14)}}"
    print(header)
    for name in filter(None, args.only.split(",")):
        gflop, fwd, bench_args, cleanup = pipeline_case(args.threads) if name == "pipeline" \
            else official_case(args.threads, args.official_steps) if name == "official" \
            else module_case(CONFIGS[name], args.threads)
        served = [Served(binary, bench_args + extra) for _, binary, extra in sides]
        try:
            torch_ms, ours = alternate(fwd, served, args.pairs)
        finally:
            rss = [s.close() for s in served]
            cleanup()
        ours_ms = statistics.median(ours[0])
        row = (f"{name:<13}{(f'{gflop:.1f}' if gflop else '-'):>7}{statistics.median(torch_ms):>10.1f}{ours_ms:>10.1f}"
               f"{spread([o / t for o, t in zip(ours[0], torch_ms)]):>22}"
               f"{(f'{100 * gflop / (ours_ms / 1000) / peak:.0f}%' if gflop else '-'):>8}{rss[0]:>8}")
        for (column, _, _), times in zip(sides[1:], ours[1:]):
            if column in versus_torch:
                row += (f"{statistics.median(times):>{max(10, len(column) + 4)}.1f}"
                        f"{spread([o / t for o, t in zip(times, torch_ms)]):>{max(22, len(column) + 18)}}")
            else:
                mine = ours[versus[column.removeprefix("base ")] if column.startswith("base ") else 0]
                row += (f"{statistics.median(times):>{max(10, len(column) + 4)}.1f}"
                        f"{spread([o / b for o, b in zip(mine, times)]):>{max(27, len(column) * 2 + 14)}}")
        print(row, flush=True)
        if len(sides) > 1:
            print(f"{'':<13}peak RSS MB: " + ", ".join(f"{c} {r}" for (c, _, _), r in zip(sides, rss)), flush=True)
    print(f"torch process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    if args.service:
        service_row(args.service, unbatched=args.unbatched, shared=args.shared_passes)


def service_row(seconds, unbatched=False, shared=False):
    """Images per minute of `segserve serve` (release, default model and options) with 1, 2, 4
    and 8 clients, each submitting a 512x512 photo and waiting for its result, then the next.
    With `unbatched`, a second server with workers.max_batch 1 takes turns with the first at
    every client count; with `shared`, so do two with 2 workers, one whose jobs share UNet passes."""
    import threading, urllib.request
    from PIL import Image
    from segtools.testing import PHOTOS
    tmp = tempfile.TemporaryDirectory()
    png = os.path.join(tmp.name, "image.png")
    Image.open(PHOTOS[0]).convert("RGB").resize((512, 512), Image.BILINEAR).save(png)
    body = open(png, "rb").read()
    variants = [("", {})] + ([(" (max_batch 1)", {"SEGSERVE_WORKERS_MAX_BATCH": "1"})] if unbatched else []) \
        + ([(" (2 workers)", {"SEGSERVE_WORKERS_COUNT": "2"}),
            (" (2 workers sharing passes)", {"SEGSERVE_WORKERS_COUNT": "2", "SEGSERVE_WORKERS_MAX_BATCH": "8",
                                             "SEGSERVE_WORKERS_MAX_BATCH_DELAY_MS": "20"})] if shared else [])
    servers = []

    def start(i, extra):
        log = open(os.path.join(tmp.name, f"log{i}"), "w+")
        env = dict(os.environ, SEGSERVE_DATABASE=os.path.join(tmp.name, f"jobs{i}.sqlite"), SEGSERVE_QUEUE_MAX_QUEUED="1000", **extra)
        servers.append(subprocess.Popen([os.path.join(REPO, ".build", "release", "segserve"), "serve", "--port", "0"],
                                        cwd=REPO, env=env, stderr=log, stdout=subprocess.DEVNULL))
        for _ in range(200):
            log.seek(0)
            for line in log:
                if "address=" in line:
                    return line.split("address=")[1].split()[0]
            time.sleep(0.1)
        raise RuntimeError("segserve serve did not start")

    def segment(address):
        req = urllib.request.Request(f"http://{address}/v1/segmentations", data=body, method="POST",
                                     headers={"Content-Type": "image/png", "Prefer": "wait=60"})
        job = json.load(urllib.request.urlopen(req, timeout=120))
        while job["state"] in ("queued", "running"):
            req = urllib.request.Request(f"http://{address}/v1/jobs/{job['id']}", headers={"Prefer": "wait=60"})
            job = json.load(urllib.request.urlopen(req, timeout=120))
        if job["state"] != "succeeded":
            raise RuntimeError(f"job {job['id']}: {job['state']}")

    try:
        addresses = [start(i, extra) for i, (_, extra) in enumerate(variants)]
        for address in addresses:
            segment(address)
        print(f"service: segserve serve, default model and options, 512x512 PNG, {seconds:.0f} s per row")
        for clients in (1, 2, 4, 8):
            for (label, _), address in zip(variants, addresses):
                done, stop = [0], time.perf_counter() + seconds
                lock = threading.Lock()

                def client():
                    while time.perf_counter() < stop:
                        segment(address)
                        with lock:
                            done[0] += 1
                t0 = time.perf_counter()
                threads = [threading.Thread(target=client) for _ in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print(f"  {clients} clients{label}: {done[0] * 60 / (time.perf_counter() - t0):.1f} images/minute", flush=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        tmp.cleanup()


def measure_sgemm(threads):
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = 0
    for _ in range(5):
        t0 = time.perf_counter(); a @ b; dt = time.perf_counter() - t0
        best = max(best, 2 * 2048 ** 3 / dt / 1e9)
    return best


if __name__ == "__main__":
    main()
