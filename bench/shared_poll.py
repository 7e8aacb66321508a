"""Case "one poller per cluster": scheduler queries of 4 kernels vs 1, and the watcher's
Python cost per poll of 1,000 active jobs (issue 14, items 3 and 4).

    python bench/shared_poll.py [--quick] [--window S] [--json PATH]

Queries: ``sdiag`` counts slurmctld's RPCs by type; ``REQUEST_JOB_INFO`` plus
``REQUEST_JOB_INFO_SINGLE`` is what ``squeue`` costs. Each "kernel" is its own Python
process (the public API, SLURM over SSH to the sandbox, ``poll_interval=1``) with 3
sleeping jobs; after all of them have submitted, the RPC counters are read at the start
and end of a window of ``--window`` seconds, less what a window with no kernel counted
(others using the sandbox meanwhile). Measured for 1 kernel, 4 kernels sharing (the
default) and 4 kernels with ``CLUSTERLAB_SHARED_POLL=0`` (each polling on its own, as
before). Each kernel also reports its own scheduler round trips and shared reads, a count
no other user of the sandbox can disturb. Every job is cancelled before a kernel exits.

Cost: bench/watcher_cost.py (no network: the poll's round trip is replayed), with and
without the monitor listening to events.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

KERNEL = textwrap.dedent(
    """
    import json, sys, time
    import clusterlab as cl
    name, jobs = sys.argv[1], int(sys.argv[2])
    nap = cl.cluster(name, time="00:05:00", memory="20MB")(time.sleep)
    active = []
    try:
        active = [nap.submit(240) for _ in range(jobs)]
        deadline = time.monotonic() + 30  # known to the scheduler (running or queued)
        while any(j.state.value == "SUBMITTING" for j in active) and time.monotonic() < deadline:
            time.sleep(0.2)
        print("ready", flush=True)
        sys.stdin.readline()  # the window is over (or the driver went away)
        watcher = active[0].engine.watcher
        shared = watcher.shared
        polls = shared.scheduler_polls if shared else watcher.polls
        reads = shared.shared_reads if shared else 0
        print(json.dumps({"polls": polls, "reads": reads}), flush=True)
    finally:
        for j in active:
            j.cancel()
    """
)
JOBS = 3  # per kernel: 4 kernels' jobs fit the sandbox's 16 slots at once
RPCS = ("REQUEST_JOB_INFO", "REQUEST_JOB_INFO_SINGLE")


def job_info_rpcs() -> dict[str, int]:
    """slurmctld's counts of squeue's RPCs since it started, by type."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    counts = {}
    for name in RPCS:
        found = re.search(rf"^\s*{name}\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
        counts[name] = int(found.group(1)) if found else 0
    return counts


def window(profile_name: str, kernels: int, seconds: float, shared: bool) -> dict[str, Any]:
    env = dict(os.environ)
    if not shared:
        env["CLUSTERLAB_SHARED_POLL"] = "0"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", KERNEL, profile_name, str(JOBS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(kernels)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a kernel failed before the window: {line!r}")
        before = job_info_rpcs()
        time.sleep(seconds)
        after = job_info_rpcs()
        rpcs = {name: after[name] - before[name] for name in RPCS}
        per_kernel = []
        for p in procs:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("\n")
            p.stdin.flush()
            per_kernel.append(json.loads(p.stdout.readline()))
    finally:
        for p in procs:  # each cancels its jobs before it exits
            if p.poll() is None and p.stdin is not None and not p.stdin.closed:
                try:
                    p.stdin.write("\n")
                    p.stdin.flush()
                except BrokenPipeError:
                    pass
            if p.poll() is None:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    return {
        "kernels": kernels,
        "shared": shared,
        "window_s": seconds,
        "job_info_rpcs": sum(rpcs.values()),
        "by_type": rpcs,
        "per_kernel": per_kernel,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 6 s window")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--json", default=str(BENCH / "results" / "shared_poll.json"))
    args = parser.parse_args()
    seconds = 6.0 if args.quick else args.window

    import watcher_cost
    from sandbox_profiles import setup

    cost = {
        f"{kind}{' + monitor' if mon else ''}": watcher_cost.measure(kind, monitor=mon)
        for kind in ("jobs", "array")
        for mon in (False, True)
    }
    _, _, profiles = setup(poll_interval=1.0)
    import clusterlab as cl

    profile = profiles["SLURM over SSH"]
    cl.profiles.save(profile)
    # 0 kernels: what others using the sandbox cost meanwhile (sdiag counts everyone's).
    runs = [
        window(profile.name, 0, seconds, True),
        window(profile.name, 1, seconds, True),
        window(profile.name, 4, seconds, True),
        window(profile.name, 4, seconds, False),
    ]
    noise = runs[0]["job_info_rpcs"]
    one, four, alone = (max(r["job_info_rpcs"] - noise, 0) for r in runs[1:])
    polls = [sum(k["polls"] for k in r["per_kernel"]) for r in runs[1:]]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cost_ms": cost,
        "windows": runs,
        "sdiag_ratio_4_shared_vs_1": round(four / one, 2) if one else None,
        "sdiag_ratio_4_unshared_vs_1": round(alone / one, 2) if one else None,
        "polls_ratio_4_shared_vs_1": round(polls[1] / polls[0], 2) if polls[0] else None,
        "polls_ratio_4_unshared_vs_1": round(polls[2] / polls[0], 2) if polls[0] else None,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
