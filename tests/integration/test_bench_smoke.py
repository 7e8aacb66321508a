"""The benchmarks run end to end on a tiny scale, so they cannot rot between `make bench`
runs (their numbers are not asserted: speed is measured in bench/, not tested here)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)
# What bench/suite.py compares clusterlab with (the `bench` extra of pyproject.toml).
BENCH_MODULES = ("submitit", "dask_jobqueue", "distributed", "loky", "numpy", "matplotlib")


@pytest.mark.parametrize(
    ("script", "args", "keys"),
    [
        ("roundtrip.py", ["--repeat", "1"], {"local scheduler", "SLURM over SSH"}),
        ("map_array.py", ["--n", "5", "--repeat", "1"], {"5"}),
        ("follow_latency.py", ["--lines", "3"], {"pushed (agent, poll 30 s)", "target"}),
        ("panel_follow_latency.py", ["--lines", "3"], {"pushed (job.follow)", "target"}),
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


def _numbers(record: dict[str, Any]) -> list[float]:
    return [
        v
        for k, v in record.items()
        if k not in ("n", "runs")
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    ]


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_suite_quick_measures_every_case(sandbox: object, tmp_path: Path) -> None:
    """`bench/suite.py --quick`: every case of the issue produces medians and verdicts."""
    missing = [m for m in BENCH_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(
            f"the benchmark dependencies are missing ({', '.join(missing)}): "
            "run `.venv/bin/pip install -e '.[bench]'` (`make install-dev` does it)"
        )
    out = tmp_path / "suite.json"
    argv = ["--quick", "--no-docs", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), *argv],
        capture_output=True,
        text=True,
        timeout=460,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())
    assert set(data["cases"]) == {"1", "2", "3", "4", "5", "6", "7"}
    assert data["quick"] is True and data["machine"]["nproc"]
    for key, case in data["cases"].items():
        assert case["runs"], f"case {key} has no runs"
        assert case["errors"] == [], f"case {key}: {case['errors']}"
        assert any(_numbers(rec) for rec in case["median"]), f"case {key} has no medians"
        assert case["targets"], f"case {key} judges no target"
        unjudged = [t["what"] for t in case["targets"] if t["met"] is None]
        assert not unjudged, f"case {key}: not measured: {unjudged}"
    # the Markdown section and its plots are rendered next to the JSON (docs/ untouched)
    assert "<!--" not in (tmp_path / "suite.md").read_text()
    assert {p.name for p in tmp_path.glob("bench-*.png")} == {
        "bench-roundtrip.png",
        "bench-map.png",
        "bench-calls.png",
        "bench-kernel.png",
        "bench-local.png",
        "bench-payload.png",
        "bench-items.png",
    }
