"""Map of N no-op items to all results, against a raw `sbatch --array` on the same sandbox.

    python bench/map_array.py [--n 1000] [--repeat 3] [--json out.json]

The scheduler's own limit is `sbatch --array=0-(N-1) --wrap true` polled every 0.2 s until
every task left the queue COMPLETED. clusterlab runs `f.map(range(N))` over SSH and via the
local transport; we report wall time, the ratio to the limit, and transport round trips and
scheduler queries during the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox_profiles import setup


def noop(x: int) -> int:
    return x


def raw_array(n: int, timeout: float = 3600) -> float:
    """Seconds from `sbatch --array` to every task COMPLETED (the scheduler's limit)."""
    t0 = time.perf_counter()
    jid = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{n - 1}", "--wrap", "true", "--output=/dev/null"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    while True:
        out = subprocess.run(
            ["squeue", "-h", "--array", "--states=all", f"--jobs={jid}", "--format=%T"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if len(out) >= n and all(s == "COMPLETED" for s in out):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"array {jid}: not all {n} tasks COMPLETED after {timeout} s")
        time.sleep(0.2)


def clusterlab_map(
    profile: Any,
    n: int,
    chunksize: int | None = None,
    commands: Callable[[], dict[str, int]] | None = None,
    warm: bool = True,
    workers: int | None = None,
) -> dict[str, Any]:
    """Wall time of `f.map(range(n))` to all results, after a warm-up call (``warm``;
    without it a new profile's first map pays for the connection and probes too).

    ``chunksize`` is passed only when given, so the library's default plan is measured
    otherwise; ``commands`` (cumulative scheduler-command counts, e.g. bench/shim.py) is
    read around the map, as are the runtime's round trips and polls.
    """
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(noop)
    if warm:
        f(0)  # warm up: connection and environment probe
    runtime = get_runtime(profile)  # its transport may be shared with other runtimes
    trips0, polls0 = runtime.transport.round_trips, runtime.watcher.polls
    counts0 = commands() if commands else {}
    kwargs: dict[str, int] = {} if chunksize is None else {"chunksize": chunksize}
    if workers is not None:
        kwargs["workers"] = workers
    t0 = time.perf_counter()
    arr = f.map(range(n), **kwargs)
    submitted = time.perf_counter() - t0
    results = arr.results(timeout=1800)
    elapsed = time.perf_counter() - t0
    assert results == list(range(n))
    starts = [j.started_at for j in arr if j.started_at]
    ends = [j.ended_at for j in arr if j.ended_at]
    out: dict[str, Any] = {
        "time_s": elapsed,
        "submit_s": submitted,
        "work_span_s": (max(ends) - min(starts)) if starts and ends else None,
        "round_trips": runtime.transport.round_trips - trips0,
        "polls": runtime.watcher.polls - polls0,
        "native_arrays": len(getattr(arr, "parts", [])),
    }
    if hasattr(arr, "plan"):
        out["plan"] = str(arr.plan)
    if commands:
        after = commands()
        out["commands"] = {k: after.get(k, 0) - counts0.get(k, 0) for k in after}
    try:
        arr.cleanup()  # N item and result files per run would pile up on the cluster
    except Exception as exc:
        print(f"(could not clean up array {arr.id}: {exc})")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    _, _, profiles = setup(poll_interval=2.0)
    profiles = dict(reversed(list(profiles.items())))  # SSH first, as users mostly run it
    results: dict[str, Any] = {}
    for n in args.n:
        raw = [raw_array(n) for _ in range(args.repeat)]
        row: dict[str, Any] = {
            "raw sbatch --array": {"median_s": statistics.median(raw), "times": raw}
        }
        for label, profile in profiles.items():
            runs = [clusterlab_map(profile, n) for _ in range(args.repeat)]
            med = statistics.median(r["time_s"] for r in runs)
            row[label] = {
                "median_s": med,
                "ratio": med / row["raw sbatch --array"]["median_s"],
                "submit_s": statistics.median(r["submit_s"] for r in runs),
                "round_trips": statistics.median(r["round_trips"] for r in runs),
                "polls": statistics.median(r["polls"] for r in runs),
                "times": [r["time_s"] for r in runs],
            }
        results[str(n)] = row
        for label, res in row.items():
            extra = ""
            if "ratio" in res:
                extra = (
                    f" ratio {res['ratio']:.2f}  submit {res['submit_s']:.2f}s  "
                    f"round trips {res['round_trips']:.0f}  polls {res['polls']:.0f}"
                )
            print(f"N={n:<6} {label:<26} {res['median_s']:7.2f}s{extra}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
