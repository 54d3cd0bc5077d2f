"""The committed fixtures are exactly what tools/reference/make_fixtures.py writes."""
import filecmp
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))

import make_fixtures  # noqa: E402


def test_fixtures_regenerate_identically(tmp_path):
    written = make_fixtures.main(str(tmp_path))
    assert len(written) >= 7
    for rel in written:
        committed = os.path.join(REPO, rel)
        assert os.path.exists(committed), f"{rel} is not committed"
        assert filecmp.cmp(committed, os.path.join(tmp_path, rel), shallow=False), f"{rel} differs from a fresh run"


def test_fixtures_stay_small():
    total = 0
    for folder in ("Tests/NNRuntimeTests/Fixtures", "Tests/LDMSegTests/Fixtures"):
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    assert total < 10 * 1024 * 1024, f"fixtures take {total / 2**20:.1f} MiB"
