"""Round trip of a no-op function, next to the scheduler's own limit.

    python bench/roundtrip.py [--repeat N] [--json out.json]

Needs the sandbox (tests/cluster/sandbox.py up). Cases: the local scheduler; SLURM via
the local transport; SLURM over SSH, each with poll_interval 1 s, the default (5 s) and
30 s (status pushed by the agent, core/watching/agentlink.py), and over SSH with push switched off
(CLUSTERLAB_PUSH=0: polling only); and `sbatch --wrap true` polled every 50 ms until
COMPLETED (what no client can beat). Also counts transport round trips and watcher polls
per job, which is what a busy login node and slurmctld feel, and "end -> value": from the
runner's own "finished" timestamp to the moment the Job's future resolved in this process
(both clocks are this machine's: the sandbox is on loopback).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from sandbox_profiles import setup


def noop() -> None:
    return None


def idle(gap: float, rng: random.Random) -> None:
    """A random pause before a submission (``--gap``): back-to-back jobs all land at the
    same phase of the scheduler's tick, which then sets the round trip; a random phase
    measures what a user submitting at any moment sees."""
    if gap > 0:
        time.sleep(rng.uniform(0, gap))


def sbatch_limit(repeat: int, gap: float = 0.0) -> list[float]:
    times = []
    rng = random.Random(7)  # noqa: S311 - a pause, not a secret
    for _ in range(repeat):
        idle(gap, rng)
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


def clusterlab_case(profile: Any, repeat: int, gap: float = 0.0) -> dict[str, Any]:
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(noop)
    f()  # warm up: connection, environment probe
    runtime = get_runtime(profile)
    trips0, polls0 = runtime.transport.round_trips, runtime.watcher.polls
    times, end_to_value = [], []
    rng = random.Random(7)  # noqa: S311 - a pause, not a secret
    for _ in range(repeat):
        idle(gap, rng)
        resolved: list[float] = []
        t0 = time.perf_counter()
        job = f.submit()
        job.add_done_callback(lambda _, r=resolved: r.append(time.time()))  # type: ignore[misc]
        job.result(timeout=120)
        times.append(time.perf_counter() - t0)
        if job.ended_at and resolved:  # the runner's "finished" time -> the future's
            end_to_value.append(resolved[0] - job.ended_at)
    return {
        "times": times,
        "end_to_value": end_to_value,
        "round_trips_per_job": (runtime.transport.round_trips - trips0) / repeat,
        "polls_per_job": (runtime.watcher.polls - polls0) / repeat,
        "pushed": runtime.push.live,
    }


def summarize(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--gap", type=float, default=0.0, help="random pause (s) before jobs")
    args = parser.parse_args(argv)

    _, _, slurm = setup(poll_interval=1.0)
    import clusterlab as cl

    cases = {
        "local scheduler": cl.Profile(name="b-local", scheduler="local", poll_interval=1.0),
        **slurm,
    }
    for label, profile in slurm.items():  # the same with the gentler poll intervals
        for interval in (5.0, 30.0):
            name = f"{profile.name}-{interval:g}"
            cases[f"{label}, poll {interval:g} s"] = dataclasses.replace(
                profile, name=name, poll_interval=interval
            )
    results: dict[str, Any] = {}
    sbatch_limit(1)  # the first job after a cold start is slow for everyone
    limit_times = sbatch_limit(args.repeat, args.gap)
    results["sbatch --wrap true (scheduler limit)"] = {"times": limit_times}
    for label, profile in cases.items():
        results[label] = clusterlab_case(profile, args.repeat, args.gap)
    os.environ["CLUSTERLAB_PUSH"] = "0"  # what polling alone gives (before push)
    ssh = slurm["SLURM over SSH"]
    for interval in (1.0, 5.0):
        unpushed = dataclasses.replace(ssh, name=f"b-nopush-{interval:g}", poll_interval=interval)
        results[f"SLURM over SSH, poll {interval:g} s, push off"] = clusterlab_case(
            unpushed, args.repeat, args.gap
        )
    del os.environ["CLUSTERLAB_PUSH"]
    limit = statistics.median(results["sbatch --wrap true (scheduler limit)"]["times"])
    print(
        f"{'case':<45} {'median':>7} {'min':>6} {'max':>6} {'over limit':>10} "
        f"{'end->value':>10} {'trips/job':>9} {'polls/job':>9}"
    )
    for label, res in results.items():
        s = summarize(res["times"])
        res.update(s)
        over = f"{s['median_s'] - limit:+.2f}" if "SLURM" in label else ""
        ends = res.get("end_to_value")
        if ends:
            res["end_to_value_median_s"] = statistics.median(ends)
        end = f"{res['end_to_value_median_s']:.3f}" if ends else ""
        print(
            f"{label:<45} {s['median_s']:7.2f} {s['min_s']:6.2f} {s['max_s']:6.2f} {over:>10} "
            f"{end:>10} {res.get('round_trips_per_job', ''):>9} {res.get('polls_per_job', ''):>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
