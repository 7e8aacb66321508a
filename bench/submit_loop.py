"""``submit()`` in a loop (issue 14, item 2): how long the loop takes, and how long until
the scheduler accepted every job (all native ids known), on SLURM over SSH.

    python bench/submit_loop.py [--n 1000] [--repeat 3] [--json out.json]

(``PYTHONPATH=<an older checkout>/python`` measures the code before batching, where the
loop itself waited for every ``sbatch``.)

Needs the sandbox (tests/cluster/sandbox.py up). The jobs are submitted held
(``--hold``), so they never run and load the machine, and are cancelled by name after
each repeat. Also reports the transport's round trips and the submission thread's
batches during the window, which is what the login node feels.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from sandbox_profiles import setup


def nap(seconds: float) -> None:
    time.sleep(seconds)


def one_run(profile: Any, n: int) -> dict[str, float]:
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    name = f"bsub{secrets.token_hex(3)}"
    f = cl.cluster(profile, name=name, memory="20MB", extra=["--hold"])(nap)
    runtime = get_runtime(profile)
    warm = f.submit(0)  # connection and remote environment checked: not part of the loop
    while warm.state == cl.JobState.SUBMITTING:
        time.sleep(0.01)
    batcher = getattr(runtime, "batcher", None)  # absent before submission was batched
    trips, batches = runtime.transport.round_trips, batcher.batches if batcher else 0
    try:
        t0 = time.perf_counter()
        jobs = [f.submit(1) for _ in range(n)]
        loop_s = time.perf_counter() - t0
        while any(j.state == cl.JobState.SUBMITTING for j in jobs):
            time.sleep(0.005)
        accepted_s = time.perf_counter() - t0
        failed = [j for j in jobs if not j.native_id]
        return {
            "n": n,
            "loop_s": loop_s,
            "per_call_ms": 1000 * loop_s / n,
            "accepted_s": accepted_s,
            "not_accepted": len(failed),
            "round_trips": runtime.transport.round_trips - trips,
            "batches": batcher.batches - batches if batcher else n,
        }
    finally:
        subprocess.run(["scancel", f"--name={name}"], check=False, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    _, _, profiles = setup(poll_interval=5.0)
    profile = profiles["SLURM over SSH"]
    runs = [one_run(profile, args.n) for _ in range(args.repeat)]
    keys = runs[0].keys()
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(json.dumps({"runs": runs, "median": med}, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": med}, indent=1))


if __name__ == "__main__":
    main()
