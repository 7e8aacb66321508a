"""Soak at scale (issue 30 item 7): 10,000 jobs watched for 30 minutes while work flows
through; the kernel's memory and threads stay flat and nothing is lost.

    make soak                      # python bench/soak.py --jobs 10000 --minutes 30

Over SSH to the sandbox's SLURM (one Python process, as a kernel):

- ``--jobs`` jobs submitted in a loop (``f.submit``) that stay PENDING for the whole soak
  (``--begin=now+3hours``: they take no CPU, so the shared sandbox stays usable) and are
  all watched, polled and listed in the ledger like any job;
- meanwhile every ``--every`` seconds a "wave" of real work: a ``map`` of ``--items``
  no-op items and ``--singles`` single calls, whose values are checked;
- every ``--every`` seconds a sample of this process's resident memory, threads, open
  file descriptors, the watched jobs' states and the watcher's poll count.

At the end every held job is cancelled and must end CANCELLED (none left PENDING, none
lost); every wave's values must have come back. Prints a table and the verdicts (memory
flat: the growth from the first sample after submission to the last under
``--rss-budget`` MB; threads and descriptors back to where they were; nothing lost), and
writes bench/results/soak.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from sandbox_profiles import ROOT, setup

ACTIVE = ("SUBMITTING", "PENDING", "RUNNING")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def noop(x: int) -> int:
    return x


def _wave(f_map: Any, f_one: Any, items: int, singles: int, wave: int) -> dict[str, Any]:
    """One wave of real work; what came back and how long it took."""
    t0 = time.monotonic()
    base = wave * 1_000_000
    arr = f_map.map(range(base, base + items))
    calls = [f_one.submit(base + i) for i in range(singles)]
    values = arr.results(timeout=600)
    singles_ok = sum(1 for i, job in enumerate(calls) if job.result(timeout=600) == base + i)
    return {
        "wave": wave,
        "items_ok": sum(1 for i, v in enumerate(values) if v == base + i),
        "singles_ok": singles_ok,
        "seconds": round(time.monotonic() - t0, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--items", type=int, default=200, help="map items per wave")
    parser.add_argument("--singles", type=int, default=5, help="single calls per wave")
    parser.add_argument("--rss-budget", type=float, default=50.0, help="MB of growth allowed")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    _, _, profiles = setup(poll_interval=5.0)
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    profile = profiles["SLURM over SSH"]
    cl.profiles.save(profile)
    held = cl.cluster(profile.name, name="soak-held", extra=["--begin=now+3hours"])(noop)
    f_map = cl.cluster(profile.name, name="soak-map")(noop)
    f_one = cl.cluster(profile.name, name="soak-one")(noop)
    f_one(0)  # log in, probe: the baseline is a working session
    runtime = get_runtime(profile)
    fds0, threads0 = len(os.listdir("/proc/self/fd")), threading.active_count()
    t0 = time.monotonic()
    jobs = [held.submit(i) for i in range(args.jobs)]
    submitted_s = time.monotonic() - t0
    print(f"submitted {len(jobs)} held jobs in {submitted_s:.1f} s", flush=True)
    samples: list[dict[str, Any]] = []
    waves: list[dict[str, Any]] = []
    end = time.monotonic() + args.minutes * 60
    try:
        while True:
            counts: dict[str, int] = {}
            for job in jobs:
                counts[job.state.value] = counts.get(job.state.value, 0) + 1
            sample = {
                "t": round(time.monotonic() - t0),
                "rss_mb": round(rss_mb(), 1),
                "threads": threading.active_count(),
                "fds": len(os.listdir("/proc/self/fd")),
                "polls": runtime.watcher.polls,
                "round_trips": runtime.transport.round_trips,
                "states": counts,
            }
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            if time.monotonic() >= end:
                break
            waves.append(_wave(f_map, f_one, args.items, args.singles, len(waves) + 1))
            print(json.dumps(waves[-1]), flush=True)
            time.sleep(min(args.every, max(0.0, end - time.monotonic())))
    finally:
        t_cancel = time.monotonic()
        runtime.cancel(jobs)  # one scancel per 1,000 ids (job.cancel() is one each)
        deadline = time.monotonic() + 300
        while any(j.state.value in ACTIVE for j in jobs) and time.monotonic() < deadline:
            time.sleep(1)
        cancel_s = time.monotonic() - t_cancel
    final: dict[str, int] = {}
    for job in jobs:
        final[job.state.value] = final.get(job.state.value, 0) + 1
    time.sleep(40)  # the watcher's threads end once nothing is watched (idle stops)
    after = {"threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd"))}
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    growth = last["rss_mb"] - first["rss_mb"]
    lost_items = sum(args.items - w["items_ok"] for w in waves)
    lost_singles = sum(args.singles - w["singles_ok"] for w in waves)
    verdicts = {
        "memory flat": growth <= args.rss_budget,
        "threads flat": last["threads"] <= first["threads"] + 2
        and after["threads"] <= threads0 + 2,
        "descriptors flat": after["fds"] <= fds0 + 4,
        "nothing lost": lost_items == 0
        and lost_singles == 0
        and final.get("CANCELLED", 0) == len(jobs),
    }
    rows = [
        "| minute | RSS (MB) | threads | fds | held jobs active | polls | round trips |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {s['t'] / 60:.1f} | {s['rss_mb']} | {s['threads']} | {s['fds']} | "
            f"{sum(n for k, n in s['states'].items() if k in ACTIVE)} | {s['polls']} | "
            f"{s['round_trips']} |"
            for s in samples
        ),
    ]
    print("\n".join(rows))
    print(
        f"RSS {first['rss_mb']} -> {last['rss_mb']} MB (+{growth:.1f}, budget {args.rss_budget}); "
        f"threads {threads0} before, {first['threads']} -> {last['threads']}, {after['threads']} "
        f"after; fds {fds0} before, {after['fds']} after; {len(waves)} waves of {args.items} "
        f"items + {args.singles} calls: {lost_items} items and {lost_singles} calls lost; "
        f"held jobs at the end: {final} (cancel took {cancel_s:.1f} s)"
    )
    for name, ok in verdicts.items():
        print(f"{name:<18} {'met' if ok else 'missed'}")
    args.json.write_text(
        json.dumps(
            {
                "jobs": args.jobs,
                "minutes": args.minutes,
                "submitted_s": submitted_s,
                "samples": samples,
                "waves": waves,
                "final": final,
                "after": after,
                "before": {"threads": threads0, "fds": fds0},
                "verdicts": verdicts,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
