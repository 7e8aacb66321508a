"""The watcher's Python cost per poll with 1,000 (``--n``) active jobs, without the network.

A real Runtime (SLURM profile, local transport, a private ledger) holds 1,000 single jobs
(or one array of 1,000 one-item tasks). Its transport's one round trip is replaced by a
replay of what it returns for them (``squeue`` lines, the marker, every status file, in
the shape SLURM and the runner write them), so what is timed is all of the poll's Python
and nothing of the network: the SLURM backend parsing that output into Observations, then
the watcher parsing status lines, deciding states, emitting events and flushing the ledger.
The first poll sees every job pending, the second sees them start (1,000 transitions);
the following ones see nothing new (the steady state of a long map).
Run ``python bench/watcher_cost.py [--profile [--array]]`` for a cProfile listing.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTED = b'{"event": "started", "time": 1700000000.0, "host": "node1", "pid": 4242}\n'


def _item_line(index: int) -> bytes:
    return b'{"event": "item-started", "index": %d, "time": 1700000000.5}\n' % index


class Replay:
    """Stands in for the transport's ``run`` of the poll's one round trip (``sh -s`` with
    the script on stdin): every job PENDING (Resources) at the first poll, then RUNNING
    with its status file for ever."""

    def __init__(self, n: int = 1000) -> None:
        self.calls = 0
        self.n = n
        self.natives: list[str] = []  # what `squeue --me` would list (past IDS_PER_COMMAND)

    def __call__(self, argv: list[str], stdin: bytes | None = None, **_: Any) -> Any:
        from clusterlab.backends.statusdump import HEREDOC_END
        from clusterlab.transports.base import CommandResult

        script = (stdin or b"").decode()
        assert argv == ["sh", "-s"], f"not a poll: {argv}"
        self.calls += 1
        marker = re.search(r"--clusterlab-[0-9a-f]+--", script)
        assert marker, "not a poll script"
        ids = re.search(r"--jobs=([0-9,]*)", script)
        natives = ids.group(1).split(",") if ids else self.natives
        listing = script.split(f"<<'{HEREDOC_END}'\n", 1)[1].split(f"{HEREDOC_END}\n")[0]
        job_dirs = listing.splitlines()
        lines: list[str] = []
        dump: list[bytes] = []
        for native, job_dir in zip(natives, job_dirs, strict=True):
            dump.append(b"=== %s\n" % job_dir.encode())
            if native.startswith("2"):  # the array: one line and one status file per task
                for i in range(self.n):
                    state = "PENDING|Resources" if self.calls == 1 else "RUNNING|None"
                    lines.append(f"{native}_{i}|{state}")
                    if self.calls > 1:
                        dump.append(b"==> status.%d <==\n%s%s" % (i, STARTED, _item_line(i)))
            elif self.calls == 1:
                lines.append(f"{native}|PENDING|Resources")
            else:
                lines.append(f"{native}|RUNNING|None")
                dump.append(b"==> status <==\n" + STARTED)
        out = "\n".join(lines) + f"\n\n{marker.group(0)} 0\n"
        return CommandResult(0, out.encode() + b"".join(dump), b"")


def build(kind: str, n: int = 1000) -> tuple[Any, list[Any]]:
    """A runtime with ``n`` single jobs (``kind='jobs'``) or one ``n``-item array."""
    import clusterlab as cl
    from clusterlab.config.resources import parse_resources
    from clusterlab.core.ledger import records
    from clusterlab.core.model.array import ArrayJob, ArrayPart
    from clusterlab.core.model.job import Job
    from clusterlab.core.model.plan import Plan
    from clusterlab.core.runtime import Runtime

    tmp = Path(tempfile.mkdtemp(prefix="clusterlab-watchcost-"))
    os.environ["CLUSTERLAB_CONFIG_DIR"] = str(tmp / "config")
    os.environ["CLUSTERLAB_DATA_DIR"] = str(tmp / "data")
    profile = cl.Profile(name="wcost", scheduler="slurm", remote_dir=str(tmp / "jobs"))
    runtime = Runtime(profile)
    runtime.watcher.shared = None  # measure the watcher alone, not the SQLite sharing
    replay = Replay(n)
    runtime.transport.run = replay  # type: ignore[method-assign]
    res = parse_resources({"cores": 1})
    units: list[Any] = []
    if kind == "jobs":
        jobs = [
            Job(runtime, f"j{i}", "nap", str(100_000 + i), f"{tmp}/jobs/j{i}", res)
            for i in range(n)
        ]
        records.record_jobs(runtime.profile, jobs)
        units.extend(jobs)
        replay.natives = [j.native_id for j in jobs]
    else:
        array = ArrayJob(runtime, "a1", "nap", n, Plan(n, n, 1))
        part = ArrayPart(array, "20000", f"{tmp}/jobs/a1", [[i] for i in range(n)])
        for i in range(n):
            array.elements.append(part.new_item(runtime, i, i, res, []))
        array.parts.append(part)
        runtime.arrays[array.id] = array
        records.record_array(runtime.profile, array, list(range(n)), res, [])
        units.append(part)
        replay.natives = [part.native_id]
    return runtime, units


def measure(kind: str, monitor: bool = False, repeat: int = 5, n: int = 1000) -> dict[str, float]:
    """:func:`measure_once` ``repeat`` times (a fresh runtime each): the median of each
    number, as other processes share this machine's two cores."""
    runs = [measure_once(kind, monitor=monitor, n=n) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure_once(
    kind: str, polls: int = 20, monitor: bool = False, n: int = 1000
) -> dict[str, float]:
    """In ms: ``first_ms`` (every job seen PENDING), ``start_ms`` (every job starts), and
    ``median_ms``/``max_ms`` of the steady polls that follow (nothing new), wall clock;
    ``start_cpu_ms`` and ``max_cpu_ms`` (of all polls): the poll thread's CPU time. ``monitor``:
    with ``cl.monitor()`` listening to the events, as in a notebook."""
    runtime, units = build(kind, n)
    if monitor:
        import clusterlab as cl

        mon = cl.monitor()  # noqa: F841 - kept alive while it listens
    times, cpu = [], []
    for _ in range(polls + 2):
        t0, c0 = time.perf_counter(), time.thread_time()
        runtime.watcher.poll_once(units)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    steady = times[2:]
    # Wall time includes other threads holding the GIL meanwhile (the monitor redrawing);
    # the thread's CPU time is the poll's own cost.
    return {
        "first_ms": times[0],
        "start_ms": times[1],
        "median_ms": statistics.median(steady),
        "max_ms": max(steady),
        "start_cpu_ms": cpu[1],
        "max_cpu_ms": max(cpu),
    }


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(ROOT / "python"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="active jobs (or array items)")
    ap.add_argument("--profile", action="store_true", help="a cProfile listing instead")
    ap.add_argument("--array", action="store_true", help="with --profile: the array")
    ap.add_argument("--kinds", default="jobs,array", help="with no --profile: which to time")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import pstats

        runtime, units = build("array" if args.array else "jobs", args.n)
        runtime.watcher.poll_once(units)
        prof = cProfile.Profile()
        prof.enable()
        runtime.watcher.poll_once(units)  # every job starts
        for _ in range(4):
            runtime.watcher.poll_once(units)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    else:
        for kind in args.kinds.split(","):
            for mon in (False, True):
                got = measure(kind, monitor=mon, repeat=args.repeat, n=args.n)
                cost = {k: round(v, 1) for k, v in got.items()}
                print(f"{args.n} {kind}", "+ monitor" if mon else "", cost, flush=True)
