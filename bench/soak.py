"""Soak: 1,000 jobs watched for 10 minutes; the kernel's memory and threads stay flat.

    make soak                      # or: python bench/soak.py --jobs 1000 --minutes 10

Submits ``--jobs`` long jobs (they pend and run on the sandbox's SLURM, over SSH) and
watches them for ``--minutes`` while sampling this process's resident memory and thread
count every 30 s; then cancels them. Prints a table (for docs/reliability.md) and writes
bench/results/soak.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from sandbox_profiles import ROOT, setup


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    _, _, profiles = setup(poll_interval=5.0)
    import clusterlab as cl

    profile = profiles["SLURM over SSH"]
    cl.profiles.save(profile)
    f = cl.cluster(profile.name, name="soak")(time.sleep)
    t0 = time.monotonic()
    jobs = [f.submit(args.minutes * 60 + 600) for _ in range(args.jobs)]
    print(f"submitted {len(jobs)} in {time.monotonic() - t0:.1f} s", flush=True)
    samples = []
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
                "states": counts,
            }
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            if time.monotonic() >= end:
                break
            time.sleep(min(args.every, max(0.0, end - time.monotonic())))
    finally:
        for job in jobs:
            job.cancel()
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    rows = [
        "| minute | RSS (MB) | threads | active jobs |",
        "| --- | --- | --- | --- |",
        *(
            f"| {s['t'] / 60:.1f} | {s['rss_mb']} | {s['threads']} | "
            f"{sum(n for k, n in s['states'].items() if k in ('PENDING', 'RUNNING'))} |"
            for s in samples
        ),
    ]
    print("\n".join(rows))
    print(
        f"RSS from the first sample after submission to the end: {first['rss_mb']} -> "
        f"{last['rss_mb']} MB; threads {first['threads']} -> {last['threads']}"
    )
    out = ROOT / "bench" / "results" / "soak.json"
    out.write_text(json.dumps({"jobs": args.jobs, "samples": samples}, indent=1) + "\n")


if __name__ == "__main__":
    main()
