"""Scale (issue 30 items 1 and 2): a 100,000-item map and 10,000 live jobs, in a real kernel.

    python bench/scale.py --case map100k [--n 100000] [--tree DIR]
    python bench/scale.py --case live10k [--n 10000] [--window 60]

Both cases run in a real ipykernel (jupyter_client's KernelManager, as JupyterLab starts
one) and time a trivial cell every ~50 ms from the client, as case 4 of the suite does:
that latency is what a user (or the panel's comm) waits for while we work in the kernel.

``map100k``: each run is a cold start, a fresh kernel process that imports clusterlab and
does its first ``map`` (SLURM over SSH, new profile, new connection). The first run also has
an empty clusterlab config/data dir ("as a new user would": nothing cached, target 35 s);
the second reuses that dir in another fresh kernel (target 20 s). Reported: the time from
the cell's start (``import clusterlab`` included) to every item's result, what ``map()``
took, the kernel's peak RSS growth over the run (read from ``/proc/<pid>/status`` by this
process every 0.1 s; growth counts from just before ``import clusterlab``), the cell
latencies after ``map()`` returned, and ``arr.results()`` / ``arr.failed()`` timed in the
kernel once every item is done. Also the kernel's CPU (``time.process_time``, all its
threads) from the cell's start to the last result, and the part of it the watcher spent
turning status files into meaning (``Watcher._parse``: calls, CPU, bytes handed to it).
``--tree DIR`` runs the kernel on another checkout's clusterlab (say, the commit before a
change) for a before/after on the same machine; ``--json`` then keeps it apart.

``live10k``: ``f.submit`` in a loop, N sleeping jobs submitted held (``--hold``: PENDING
with reason JobHeldUser, so they take no CPU of the shared sandbox and the watcher keeps
them active), SLURM via the local transport so that this process can ``scancel`` them by
name in a ``finally``. The kernel times every poll of its watcher (wall and the poll
thread's CPU time: the Python a poll costs, without the wait for ``squeue``); the client
times trivial cells for ``--window`` s. The default N is 10,000 real jobs (the sandbox's
slurmctld holds up to MaxJobCount=50,000 since sandbox version 6; Slurm's default 10,000
would refuse every other user's submissions meanwhile), and ``bench/watcher_cost.py --n
10000`` replays the poll of 10,000 for its Python cost alone.

Every figure prints with "met"/"missed"; results go to ``bench/results/scale.json``
(merged per case) with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import cancel_by_name
from sandbox_profiles import ROOT, ssh_fields

RESULTS = ROOT / "bench" / "results" / "scale.json"


# -- the kernel ----------------------------------------------------------------------------
class Kernel:
    """A real ipykernel with a private clusterlab config/data dir, and its client."""

    def __init__(self, home: Path, tree: Path = ROOT) -> None:
        from jupyter_client import KernelManager

        env = {
            **os.environ,
            "CLUSTERLAB_CONFIG_DIR": str(home / "config"),
            "CLUSTERLAB_DATA_DIR": str(home / "data"),
            "PYTHONPATH": str(tree / "python"),
        }
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(home))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.pid: int = self.km.provisioner.process.pid  # type: ignore[union-attr]

    def run(self, code: str, timeout: float = 600, expr: str | None = None) -> Any:
        """Execute ``code``; with ``expr``, the value of that expression (JSON) after."""
        kw: dict[str, Any] = {"store_history": False}
        if expr:
            kw["user_expressions"] = {"e": expr}
        msg_id = self.kc.execute(code, **kw)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply from the kernel in {timeout} s to {code[:60]!r}")
            msg = self.kc.get_shell_msg(timeout=left)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if content["status"] != "ok":
                tb = "\n".join(content.get("traceback", []))
                raise RuntimeError(f"kernel error: {content.get('ename')}: {tb[-2000:]}")
            if not expr:
                return None
            ue = content["user_expressions"]["e"]
            if ue["status"] != "ok":
                raise RuntimeError(f"kernel error in {expr!r}: {ue.get('evalue')}")
            value = ast.literal_eval(ue["data"]["text/plain"])
            return json.loads(value) if isinstance(value, str) else value

    def drain(self) -> None:
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                return

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


class RssWatch:
    """The kernel's peak RSS, read every 0.1 s from this process (costs the kernel nothing)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel, self.peak = kernel, kernel.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak = max(self.peak, self.kernel.rss_mb())
            except OSError:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def sample_latency(
    kernel: Kernel, until: str, limit_s: float, period: float = 0.05
) -> tuple[list[float], Any]:
    """Trivial cells every ``period`` s until the kernel expression ``until`` is truthy
    (read with every cell, so it is cheap) or ``limit_s`` passed: (latencies, its value)."""
    latencies: list[float] = []
    end = time.monotonic() + limit_s
    value: Any = None
    while time.monotonic() < end:
        t0 = time.perf_counter()
        value = kernel.run("1", timeout=120, expr=until)
        latencies.append(time.perf_counter() - t0)
        kernel.drain()
        if value:
            break
        time.sleep(max(0.0, period - latencies[-1]))
    return latencies, value


def lat_stats(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {
        "cells": len(ordered),
        "latency_median_ms": 1000 * statistics.median(ordered),
        "latency_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "latency_max_ms": 1000 * ordered[-1],
    }


# -- map100k -------------------------------------------------------------------------------
MAP_CELL = """
import json, os, time
_t0, _cpu0 = time.perf_counter(), time.process_time()
import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from clusterlab.core.watching import watcher as _w
_import_s = time.perf_counter() - _t0
_parse_cost = [0, 0.0, 0]  # Watcher._parse: calls, CPU s (its thread's), bytes given
_orig_parse = _w.Watcher._parse

def _timed_parse(self, key, sub, data):
    data = data or b""
    _c = time.thread_time()
    try:
        return _orig_parse(self, key, sub, data)
    finally:
        _parse_cost[0] += 1
        _parse_cost[1] += time.thread_time() - _c
        _parse_cost[2] += len(data)

_w.Watcher._parse = _timed_parse
_parsed = [None]  # bytes the incremental parse folded (None: a tree without it)
try:
    from clusterlab.common.statusgrowth import GrowingStatus as _Growing
except ImportError:
    _Growing = None
if _Growing is not None:
    _parsed[0] = 0
    _orig_growing = _Growing.parse

    def _counted(self, data):
        _before = self.parsed_bytes
        try:
            return _orig_growing(self, data)
        finally:
            _parsed[0] += self.parsed_bytes - _before

    _Growing.parse = _counted
profile = cl.Profile(name={name!r}, scheduler="slurm", poll_interval=2.0, **{ssh!r})
cl.profiles.save(profile)

def noop(x):
    return x

f = cl.cluster(profile.name)(noop)
arr = f.map(range({n}))
_map_s = time.perf_counter() - _t0
_left = [len(arr)]
_done_at = [None]
_cpu_done = [None]

def _one_done(_job):
    _left[0] -= 1
    if _left[0] == 0:
        _done_at[0] = time.perf_counter() - _t0
        _cpu_done[0] = time.process_time() - _cpu0

for _job in arr:
    _job.add_done_callback(_one_done)
"""

RESULTS_CELL = """
_a = time.perf_counter(); _res = arr.results(); _results_s = time.perf_counter() - _a
_a = time.perf_counter(); _failed = arr.failed(); _failed_s = time.perf_counter() - _a
assert _res == list(range({n})), "wrong results"
assert not _failed, _failed
"""

MAP_STATS = (
    "json.dumps({'import_s': _import_s, 'map_s': _map_s, 'done_s': _done_at[0], "
    "'results_s': _results_s, 'failed_s': _failed_s, 'plan': arr.plan, "
    "'polls': get_runtime(profile).watcher.polls, 'kernel_cpu_s': _cpu_done[0], "
    "'parse_calls': _parse_cost[0], 'parse_cpu_s': _parse_cost[1], "
    "'parse_mb': _parse_cost[2] / 1e6, "
    "'parsed_mb': None if _parsed[0] is None else _parsed[0] / 1e6})"
)


def map_run(n: int, home: Path, label: str, tree: Path = ROOT) -> dict[str, Any]:
    from tests.cluster import sandbox

    info = sandbox.up()
    kernel = Kernel(home, tree)
    try:
        kernel.run("import time")
        rss0 = kernel.rss_mb()
        watch = RssWatch(kernel)
        code = MAP_CELL.format(name=f"scale-{secrets.token_hex(3)}", ssh=ssh_fields(info), n=n)
        t0 = time.perf_counter()
        kernel.run(code, timeout=600)
        cell_s = time.perf_counter() - t0
        kernel.drain()
        latencies, done = sample_latency(kernel, "_done_at[0]", limit_s=900)
        if not done:
            raise TimeoutError(f"{label}: not every item finished in 900 s")
        kernel.run(RESULTS_CELL.format(n=n), timeout=600)
        peak = watch.stop()
        stats = kernel.run("", expr=MAP_STATS)
        try:
            kernel.run("arr.cleanup()", timeout=300)
        except RuntimeError as exc:
            print(f"(could not clean up: {exc})")
    finally:
        kernel.close()
    return {
        "run": label,
        "n": n,
        "time_s": stats["done_s"],
        "map_cell_s": cell_s,
        **stats,
        "rss_before_import_mb": rss0,
        "rss_peak_mb": peak,
        "rss_growth_mb": peak - rss0,
        **lat_stats(latencies),
    }


def map_case(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="clusterlab-scale-"))
    runs = [map_run(args.n, home, "new user (empty config and data dirs)", args.tree)]
    if args.repeat > 1:
        for _ in range(args.repeat - 1):
            runs.append(map_run(args.n, home, "cold start (fresh kernel, dirs kept)", args.tree))
    figures = []
    for run in runs:
        new_user = run["run"].startswith("new user")
        limit = 35.0 if new_user else 20.0
        figures += [
            fig(f"{run['run']}: cold start to every result", run["time_s"], "s", limit),
            fig(f"{run['run']}: kernel RSS growth", run["rss_growth_mb"], "MB", 200),
            fig(
                f"{run['run']}: cell latency after map() returned, max",
                run.get("latency_max_ms"),
                "ms",
                100,
            ),
            fig(f"{run['run']}: arr.results()", run["results_s"], "s", 1.0),
            fig(f"{run['run']}: arr.failed()", run["failed_s"], "s", 1.0),
        ]
    return {"runs": runs, "figures": figures}


# -- live10k -------------------------------------------------------------------------------
LIVE_CELL = """
import collections, json, time
import clusterlab as cl
from clusterlab.core.watching import watcher as _w
_polls = []
_orig = _w.Watcher.poll_once

def _timed(self, units):
    t, c = time.perf_counter(), time.thread_time()
    try:
        return _orig(self, units)
    finally:
        _polls.append((time.perf_counter() - t, time.thread_time() - c, len(units)))

_w.Watcher.poll_once = _timed
profile = cl.Profile(name="scale-live", scheduler="slurm", remote_dir={remote_dir!r},
    poll_interval={interval})

def nap(seconds):
    import time
    time.sleep(seconds)

f = cl.cluster(profile, name={job_name!r}, time="00:10:00", memory="20MB",
    extra=["--hold"])(nap)
jobs = []
_t0 = time.perf_counter()
for _ in range({n}):
    jobs.append(f.submit(1))
_submit_s = time.perf_counter() - _t0
"""

LIVE_STATS = (
    "json.dumps({'submit_s': _submit_s, 'accepted_s': _accepted_s, "
    "'states': collections.Counter(j.state.value for j in jobs), "
    "'polls': [p for p in _polls if p[2] >= len(jobs) // 2]})"
)


def live_case(args: argparse.Namespace) -> dict[str, Any]:
    from tests.cluster import sandbox

    info = sandbox.up()
    os.environ["SLURM_CONF"] = info.slurm_conf
    home = Path(tempfile.mkdtemp(prefix="clusterlab-scale-"))
    job_name = f"scale-live-{secrets.token_hex(3)}"
    kernel = Kernel(home)
    try:
        code = LIVE_CELL.format(
            remote_dir=str(home / "jobs"), job_name=job_name, n=args.n, interval=5.0
        )
        kernel.run(code, timeout=900)
        # sampling starts once the scheduler accepted them all: N jobs active
        kernel.run(
            "while any(j.state == cl.JobState.SUBMITTING for j in jobs): time.sleep(0.05)\n"
            "_accepted_s = time.perf_counter() - _t0",
            timeout=900,
        )
        kernel.drain()
        latencies, _ = sample_latency(kernel, "0", limit_s=args.window)
        stats = kernel.run("", expr=LIVE_STATS)
    finally:
        cancel_by_name(job_name, timeout=120)
        kernel.close()
    polls = stats.pop("polls")
    cpu = [p[1] * 1000 for p in polls]
    wall = [p[0] * 1000 for p in polls]
    run = {
        "n": args.n,
        **stats,
        "states": dict(stats["states"]),
        "polls": len(polls),
        "poll_cpu_median_ms": statistics.median(cpu) if cpu else None,
        "poll_cpu_max_ms": max(cpu) if cpu else None,
        "poll_wall_median_ms": statistics.median(wall) if wall else None,
        "poll_wall_max_ms": max(wall) if wall else None,
        **lat_stats(latencies),
    }
    figures = [
        fig(
            f"{args.n:,} live jobs: poll's Python (poll thread CPU), max",
            run["poll_cpu_max_ms"],
            "ms",
            100,
            le=True,
        ),
        fig(f"{args.n:,} live jobs: cell latency, max", run.get("latency_max_ms"), "ms", 100),
    ]
    return {"runs": [run], "figures": figures}


# -- output ----------------------------------------------------------------------------------
def fig(
    what: str, value: float | None, unit: str, limit: float, le: bool = False
) -> dict[str, Any]:
    met = None if value is None else (value <= limit if le else value < limit)
    return {
        "what": what,
        "value": value,
        "unit": unit,
        "target": f"{'≤' if le else '<'} {limit:g} {unit}",
        "met": met,
    }


def show(figures: list[dict[str, Any]]) -> None:
    for f in figures:
        v = "—" if f["value"] is None else f"{f['value']:.3g} {f['unit']}"
        verdict = {True: "met", False: "missed", None: "not measured"}[f["met"]]
        print(f"{f['what']}: {v} (target {f['target']}): {verdict}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=("map100k", "live10k"), required=True)
    ap.add_argument("--n", type=int)
    ap.add_argument("--repeat", type=int, default=2, help="map100k: runs (first = new user)")
    ap.add_argument("--window", type=float, default=60.0, help="live10k: seconds of sampling")
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--tree", type=Path, default=ROOT, help="map100k: checkout to import from")
    args = ap.parse_args()
    if args.n is None:
        args.n = 100_000 if args.case == "map100k" else 10_000
    load0 = os.getloadavg()
    t0 = time.time()
    out = map_case(args) if args.case == "map100k" else live_case(args)
    out.update(
        n=args.n,
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)),
        load_before=load0,
        load_after=os.getloadavg(),
        cores=os.cpu_count(),
        commit=subprocess.run(
            ["git", "-C", str(args.tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
    )
    print(json.dumps(out["runs"], indent=1, default=str))
    show(out["figures"])
    print(f"load average: before {load0[0]:.2f}, after {out['load_after'][0]:.2f}")
    old = json.loads(args.json.read_text()) if args.json.exists() else {}
    old[f"{args.case}-{args.n}"] = out
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(old, indent=1, default=str))


if __name__ == "__main__":
    main()
