"""The watcher's Python cost per poll with 1,000 active jobs, without the network.

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
    """Stands in for the transport's ``script`` (the poll's one round trip): every job
    PENDING (Resources) at the first poll, then RUNNING with its status file for ever."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, script: str, *job_dirs: str, stdin: bytes | None = None) -> Any:
        from clusterlab.transports.base import CommandResult

        self.calls += 1
        marker = re.search(r"--clusterlab-[0-9a-f]+--", script)
        assert marker, "not a poll script"
        ids = re.search(r"--jobs=([0-9,]*)", script)
        natives = ids.group(1).split(",") if ids else []
        lines: list[str] = []
        dump: list[bytes] = []
        for native, job_dir in zip(natives, job_dirs, strict=True):
            dump.append(b"=== %s\n" % job_dir.encode())
            if native.startswith("2"):  # the array: one line and one status file per task
                for i in range(1000):
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


def build(kind: str) -> tuple[Any, list[Any]]:
    """A runtime with 1,000 single jobs (``kind='jobs'``) or one 1,000-item array."""
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
    runtime.transport.script = Replay()  # type: ignore[method-assign]
    res = parse_resources({"cores": 1})
    units: list[Any] = []
    if kind == "jobs":
        for i in range(1000):
            job = Job(runtime, f"j{i}", "nap", str(10_000 + i), f"{tmp}/jobs/j{i}", res)
            records.record_jobs(runtime.profile, [job])
            units.append(job)
    else:
        array = ArrayJob(runtime, "a1", "nap", 1000, Plan(1000, 1000, 1))
        part = ArrayPart(array, "20000", f"{tmp}/jobs/a1", [[i] for i in range(1000)])
        for i in range(1000):
            array.elements.append(part.new_item(runtime, i, i, res, []))
        array.parts.append(part)
        runtime.arrays[array.id] = array
        records.record_array(runtime.profile, array, list(range(1000)), res, [])
        units.append(part)
    return runtime, units


def measure(kind: str, monitor: bool = False, repeat: int = 5) -> dict[str, float]:
    """:func:`measure_once` ``repeat`` times (a fresh runtime each): the median of each
    number, as other processes share this machine's two cores."""
    runs = [measure_once(kind, monitor=monitor) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure_once(kind: str, polls: int = 20, monitor: bool = False) -> dict[str, float]:
    """In ms: ``first_ms`` (every job seen PENDING), ``start_ms`` (every job starts), and
    ``median_ms``/``max_ms`` of the steady polls that follow (nothing new), wall clock;
    ``start_cpu_ms`` and ``max_cpu_ms`` (of all polls): the poll thread's CPU time. ``monitor``:
    with ``cl.monitor()`` listening to the events, as in a notebook."""
    runtime, units = build(kind)
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
    sys.path.insert(0, str(ROOT / "python"))
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        kind = "array" if "--array" in sys.argv else "jobs"
        runtime, units = build(kind)
        runtime.watcher.poll_once(units)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(5):
            runtime.watcher.poll_once(units)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        for kind in ("jobs", "array"):
            for mon in (False, True):
                cost = {k: round(v, 1) for k, v in measure(kind, monitor=mon).items()}
                print(kind, "+ monitor" if mon else "", cost)
