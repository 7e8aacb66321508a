"""Round trip of a no-op function, next to the scheduler's own limit.

    python bench/roundtrip.py [--repeat N] [--json out.json]

Needs the sandbox (tests/cluster/sandbox.py up). Cases: the local scheduler; SLURM via
the local transport; SLURM over SSH; and `sbatch --wrap true` polled every 50 ms until
COMPLETED (what no client can beat). Also counts transport round trips and watcher polls
per job, which is what a busy login node and slurmctld feel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from sandbox_profiles import setup


def noop() -> None:
    return None


def sbatch_limit(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jid = subprocess.run(
            ["sbatch", "--parsable", "--wrap", "true", "--output=/dev/null"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        while True:
            state = subprocess.run(
                ["squeue", "-h", "--states=all", f"--jobs={jid}", "--format=%T"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if state == "COMPLETED":
                break
            time.sleep(0.05)
        times.append(time.perf_counter() - t0)
    return times


def clusterlab_case(profile: Any, repeat: int) -> dict[str, Any]:
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(noop)
    f()  # warm up: connection, environment probe
    runtime = get_runtime(profile)
    trips0, polls0 = runtime.transport.round_trips, runtime.watcher.polls
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f.submit().result(timeout=120)
        times.append(time.perf_counter() - t0)
    return {
        "times": times,
        "round_trips_per_job": (runtime.transport.round_trips - trips0) / repeat,
        "polls_per_job": (runtime.watcher.polls - polls0) / repeat,
    }


def summarize(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    _, _, slurm = setup(poll_interval=1.0)
    import clusterlab as cl

    cases = {
        "local scheduler": cl.Profile(name="b-local", scheduler="local", poll_interval=1.0),
        **slurm,
    }
    results: dict[str, Any] = {}
    sbatch_limit(1)  # the first job after a cold start is slow for everyone
    results["sbatch --wrap true (scheduler limit)"] = {"times": sbatch_limit(args.repeat)}
    for label, profile in cases.items():
        results[label] = clusterlab_case(profile, args.repeat)
    limit = statistics.median(results["sbatch --wrap true (scheduler limit)"]["times"])
    print(
        f"{'case':<40} {'median':>8} {'min':>7} {'max':>7} {'over limit':>10} "
        f"{'trips/job':>9} {'polls/job':>9}"
    )
    for label, res in results.items():
        s = summarize(res["times"])
        res.update(s)
        over = f"{s['median_s'] - limit:+.2f}" if "SLURM" in label else ""
        print(
            f"{label:<40} {s['median_s']:8.2f} {s['min_s']:7.2f} {s['max_s']:7.2f} {over:>10} "
            f"{res.get('round_trips_per_job', ''):>9} {res.get('polls_per_job', ''):>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
