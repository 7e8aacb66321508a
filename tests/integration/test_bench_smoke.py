"""The benchmarks run end to end on a tiny scale, so they cannot rot between `make bench`
runs (their numbers are not asserted: speed is measured in bench/, not tested here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        ("roundtrip.py", ["--repeat", "1"], {"local scheduler", "SLURM over SSH"}),
        ("map_array.py", ["--n", "5", "--repeat", "1"], {"5"}),
    ],
)
def test_benchmark_runs(
    sandbox: object, tmp_path: Path, script: str, args: list[str], keys: set[str]
) -> None:
    out = tmp_path / "result.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(out)],
        check=True,
        timeout=280,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    assert keys <= set(data)
