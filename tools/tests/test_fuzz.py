"""The libFuzzer harnesses of tools/fuzz build and run for a bounded time without a finding.

Each harness starts from its committed seeds (tools/fuzz/seeds/<name>, the image fixtures for
the image decoder) and a fresh corpus; any crash, sanitizer report, leak, timeout or memory
blow-up makes libFuzzer exit non-zero and write the input, which the failure message names.
"""
import os
import re
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FUZZ = os.path.join(REPO, "tools", "fuzz")
HARNESSES = ["request-parser", "multipart", "image-decoder", "safetensors", "callback-url", "pickle", "checkpoint"]
SECONDS = int(os.environ.get("SEGSERVE_FUZZ_SECONDS", "10"))


@pytest.fixture(scope="module")
def built():
    subprocess.run([os.path.join(FUZZ, "build.sh")], check=True, capture_output=True)
    return os.path.join(FUZZ, ".build")


def seeds(name):
    return os.path.join(REPO, "Tests", "ImagingTests", "Fixtures") if name == "image-decoder" else os.path.join(FUZZ, "seeds", name)


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_clean(built, tmp_path, name):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = subprocess.run([os.path.join(built, f"fuzz-{name}"), f"-max_total_time={SECONDS}", "-rss_limit_mb=2048",
                          "-timeout=10", f"-artifact_prefix={tmp_path}/", str(corpus), seeds(name)],
                         capture_output=True, text=True, env={**os.environ, "SWIFT_BACKTRACE": "enable=no"})
    artifacts = [f for f in os.listdir(tmp_path) if f != "corpus"]
    assert run.returncode == 0 and not artifacts, f"{name}: {artifacts}\n{run.stderr[-3000:]}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done and int(done.group(1)) > 1000, run.stderr[-2000:]


def test_a_finding_fails_the_run(built, tmp_path):
    """A trap inside a harness ends the run non-zero with the input saved, as a finding would."""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    env = {**os.environ, "SWIFT_BACKTRACE": "enable=no"}
    ok = subprocess.run([os.path.join(built, "fuzz-safetensors"), str(empty)], capture_output=True, env=env)
    assert ok.returncode == 0, "an empty file is an error the loader reports, not a finding"
    (tmp_path / "corpus").mkdir()
    crash = subprocess.run([os.path.join(built, "fuzz-safetensors"), f"-artifact_prefix={tmp_path}/", "-runs=10", str(tmp_path / "corpus")],
                           capture_output=True, text=True, env={**env, "SEGSERVE_FUZZ_SELF_TEST": "1"})
    assert crash.returncode != 0 and "deadly signal" in crash.stderr
    assert any(f.startswith("crash-") for f in os.listdir(tmp_path))
