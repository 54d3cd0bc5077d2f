"""The committed fixtures are what tools/reference/make_fixtures.py writes, up to float rounding.

PyTorch picks its CPU kernels by processor (AVX-512, AVX2, baseline), so a fresh run on another
machine differs in the last bits. The check is therefore tensor by tensor: the same names,
shapes, dtypes and metadata, and values within `RELATIVE_TOLERANCE` (max |fresh - committed| /
max |committed|). A changed generator (another seed, op, shape or parameter) moves values far
beyond that; a changed CPU does not.
"""
import json
import os

import numpy as np
from safetensors import safe_open

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.reference import make_fixtures

# Fresh runs with PyTorch's AVX-512, AVX2 and baseline kernels (ATEN_CPU_CAPABILITY) differ from
# each other by at most 1.2e-6 on any tensor; the Swift parity tests allow 1e-4.
RELATIVE_TOLERANCE = 1e-5
# Segment-id maps are integers chosen by thresholds: a value on a threshold may land on either
# side on another CPU, so a few pixels (of a 40x56 map) may differ.
LABEL_TENSORS = {"__output__.ids", "__output__.inpainted"}
MAX_LABEL_PIXELS_DIFFERING = 0.01


def compare_safetensors(committed_path, fresh_path):
    """Returns a list of differences between two safetensors files (empty when they agree)."""
    problems = []
    with safe_open(committed_path, "np") as committed, safe_open(fresh_path, "np") as fresh:
        if committed.metadata() != fresh.metadata():
            problems.append("metadata differs")
        names, fresh_names = set(committed.keys()), set(fresh.keys())
        if names != fresh_names:
            problems.append(f"tensor names differ: only committed {sorted(names - fresh_names)}, "
                            f"only fresh {sorted(fresh_names - names)}")
        for name in sorted(names & fresh_names):
            a, b = committed.get_tensor(name), fresh.get_tensor(name)
            if a.dtype != b.dtype or a.shape != b.shape:
                problems.append(f"{name}: {a.dtype}{list(a.shape)} vs fresh {b.dtype}{list(b.shape)}")
                continue
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            if name in LABEL_TENSORS:
                share = float(np.mean(a64 != b64)) if a.size else 0.0
                if share > MAX_LABEL_PIXELS_DIFFERING:
                    problems.append(f"{name}: {share:.2%} of labels differ")
                continue
            scale = float(np.max(np.abs(a64))) if a.size else 0.0
            diff = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
            if diff > RELATIVE_TOLERANCE * max(scale, 1e-30):
                problems.append(f"{name}: max |diff| {diff:.3g} over max |value| {scale:.3g}")
    return problems


def test_fixtures_regenerate_within_tolerance(tmp_path):
    written = make_fixtures.main(str(tmp_path))
    assert len(written) >= 7
    for rel in written:
        committed = os.path.join(REPO, rel)
        assert os.path.exists(committed), f"{rel} is not committed"
        fresh = os.path.join(tmp_path, rel)
        if rel.endswith(".safetensors"):
            problems = compare_safetensors(committed, fresh)
            assert not problems, f"{rel} differs from a fresh run: " + "; ".join(problems)
        else:
            with open(committed) as a, open(fresh) as b:
                assert json.load(a) == json.load(b), f"{rel} differs from a fresh run"


def test_comparison_catches_a_changed_value(tmp_path):
    """The tolerance check is not vacuous: one value moved by 1e-4 of the scale is reported."""
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    base = rng.standard_normal((8, 8)).astype(np.float32)
    moved = base.copy()
    moved[3, 4] += 1e-4 * np.abs(base).max()
    rounded = base + np.float32(1e-7) * np.abs(base).max()
    paths = {k: str(tmp_path / f"{k}.safetensors") for k in ("base", "moved", "rounded")}
    for key, value in (("base", base), ("moved", moved), ("rounded", rounded)):
        save_file({"x": value}, paths[key], metadata={"cases": "{}"})
    assert compare_safetensors(paths["base"], paths["rounded"]) == []
    assert compare_safetensors(paths["base"], paths["moved"]) != []


def test_fixtures_stay_small():
    total = 0
    for folder in ("Tests/NNRuntimeTests/Fixtures", "Tests/LDMSegTests/Fixtures"):
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    assert total < 10 * 1024 * 1024, f"fixtures take {total / 2**20:.1f} MiB"
