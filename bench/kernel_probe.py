"""Does anything of ours hold the GIL long while 1,000 SLURM jobs are watched?

    python bench/kernel_probe.py

Case 4 of the suite times trivial cells in a real kernel; its rare outliers could be our
watcher thread or the machine. This runs ``submit()`` x1,000 (30 s sleeps, SLURM via the
local transport) and then, for 45 s, sleeps 1 ms at a time in the main thread while the
watcher polls: how late the main thread wakes is what a cell would wait for us. It also
reports how long each poll took. Jobs are cancelled at the end.
"""

from __future__ import annotations

import time

from sandbox_profiles import setup


def main() -> None:
    _, _, profiles = setup(poll_interval=5.0)
    import clusterlab as cl
    from clusterlab.core.watching import watcher

    profile = profiles["SLURM, local transport"]
    cl.profiles.save(profile)
    polls: list[float] = []
    original = watcher.Watcher.poll_once

    def timed(self: watcher.Watcher, units: list[watcher.Unit]) -> bool:
        t = time.perf_counter()
        try:
            return original(self, units)
        finally:
            polls.append(time.perf_counter() - t)

    watcher.Watcher.poll_once = timed  # type: ignore[method-assign]
    f = cl.cluster(profile.name, name="kernel-probe")(time.sleep)
    t0 = time.perf_counter()
    jobs = [f.submit(30) for _ in range(1000)]
    print(f"submit x1000: {time.perf_counter() - t0:.1f} s", flush=True)
    gaps = []
    stop = time.monotonic() + 45
    try:
        while time.monotonic() < stop:
            a = time.perf_counter()
            time.sleep(0.001)
            gaps.append(time.perf_counter() - a - 0.001)
    finally:
        for job in jobs:
            job.cancel()
    gaps.sort()
    polls.sort()
    print(
        f"main-thread wake-up delay: p50 {gaps[len(gaps) // 2] * 1e3:.1f} ms, "
        f"p99 {gaps[int(len(gaps) * 0.99)] * 1e3:.1f} ms, max {gaps[-1] * 1e3:.1f} ms "
        f"({len(gaps)} samples)"
    )
    if polls:
        print(
            f"polls: {len(polls)}, p50 {polls[len(polls) // 2] * 1e3:.0f} ms, "
            f"max {polls[-1] * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
