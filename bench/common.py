"""What every case of bench/suite.py shares: the run context, medians of run records,
targets that say met/missed, and Markdown helpers; and what several benchmark scripts
share: cancelling a run's SLURM jobs by name, and the setup and line-delay figures of the
two follow-latency benchmarks (follow_latency.py, panel_follow_latency.py).

A case returns plain run records (``{"tool": ..., "n": ..., "time_s": ..., ...}``), one
per repetition; medians are taken per (tool, n) so a table never shows a single time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Record = dict[str, Any]


@dataclass
class Context:
    """Everything a case needs, made once by the suite (sandbox, scratch dir, profiles)."""

    info: Any  # tests.cluster.sandbox.SandboxInfo
    tmp: Path
    profiles: dict[str, Any]  # "ssh" / "local" -> clusterlab Profile (SLURM)
    quick: bool
    repeat: int | None  # None: each case's own default
    commands: Any = None  # shim.CommandCounter, active during the map case
    notes: list[str] = field(default_factory=list)

    def repeats(self, default: int) -> int:
        """--quick means one run; --repeat overrides every case's default."""
        if self.quick:
            return 1
        return self.repeat if self.repeat else default


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def medians(runs: list[Record]) -> list[Record]:
    """One record per (tool, n): numeric fields become medians, others are kept if equal."""
    groups: dict[tuple[str, Any], list[Record]] = {}
    for run in runs:
        if "error" in run:
            continue
        groups.setdefault((run["tool"], run.get("n")), []).append(run)
    out = []
    for (tool, n), group in groups.items():
        rec: Record = {"tool": tool, "n": n, "runs": len(group)}
        keys = dict.fromkeys(k for r in group for k in r)
        for key in keys:
            if key in ("tool", "n"):
                continue
            values = [r[key] for r in group if key in r]
            if any(isinstance(v, list | dict) for v in values):
                continue  # raw series and breakdowns stay in the runs
            if values and all(is_number(v) for v in values):
                rec[key] = statistics.median(values)
            elif values and all(v == values[0] for v in values):
                rec[key] = values[0]
            elif values:
                rec[key] = sorted(set(map(str, values)))  # differing labels (e.g. plans)
        out.append(rec)
    return out


def pick(meds: list[Record], tool: str, n: Any = None) -> Record | None:
    """The median record of ``tool`` (at ``n``), or None when it was not measured."""
    for rec in meds:
        if rec["tool"] == tool and rec.get("n") == n:
            return rec
    return None


def value(meds: list[Record], tool: str, key: str, n: Any = None) -> float | None:
    rec = pick(meds, tool, n)
    if rec is None or not is_number(rec.get(key)):
        return None
    return float(rec[key])


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def target(what: str, goal: str, shown: str, met: bool | None, note: str = "") -> Record:
    """A target of the issue with the measured value; ``met`` None means not measured."""
    return {"what": what, "target": goal, "value": shown, "met": met, "note": note}


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}[met]


def fmt_s(seconds: float | None) -> str:
    """Seconds for a table: ms below one second, so small overheads stay readable."""
    if seconds is None:
        return "—"
    if abs(seconds) < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if abs(seconds) < 0.1:
        return f"{seconds * 1000:.1f} ms"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if abs(seconds) < 100 else f"{seconds:.0f} s"


def fmt_x(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}x"


def fmt_n(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.{digits}f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def attempt(
    runs: list[Record], tool: str, n: Any, fn: Callable[[], Record | list[Record]]
) -> list[Record]:
    """Run one measurement (one record, or several that name their own ``tool``); a
    failure is recorded and printed, never fatal: the other tools still get measured."""
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:
        err = f"{type(exc).__name__}: {exc}".splitlines()[0][:500] if str(exc) else repr(exc)
        runs.append({"tool": tool, "n": n, "error": err})
        print(f"    {tool:<46} {_n(n):<8} FAILED: {err}", flush=True)
        return []
    recs = [{"tool": tool, "n": n, **r} for r in (out if isinstance(out, list) else [out])]
    runs.extend(recs)
    for rec in recs:
        main = rec.get("time_s")
        shown = fmt_s(main) if is_number(main) else f"(took {time.perf_counter() - t0:.1f} s)"
        print(f"    {rec['tool']:<46} {_n(rec.get('n')):<8} {shown}", flush=True)
    return recs


def _n(n: Any) -> str:
    return "" if n is None else f"N={n}"


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send fd 2 (also of child processes) to ``path``: submitit's failing ``sacct`` (no
    accounting in the sandbox) would otherwise flood the suite's output."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def save_plot(fig: Any, path: Path) -> None:
    """Every plot of the suite is written the same way (and its memory freed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cancel_by_name(name: str, timeout: float = 60) -> None:
    """scancel every job named ``name`` until squeue lists none of them as active: a
    benchmark that submits many jobs leaves none queued (and says so when it could not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run(["scancel", f"--name={name}"], check=False, capture_output=True)
        out = subprocess.run(
            ["squeue", "-h", f"--name={name}", "--states=PENDING,RUNNING,COMPLETING"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if not out:
            return
        time.sleep(1)
    print(f"WARNING: jobs named {name} still queued after {timeout} s", file=sys.stderr)


# -- the follow-latency benchmarks ----------------------------------------------------------
def follow_setup(doc: str) -> tuple[argparse.Namespace, Any]:
    """``--lines``/``--json`` parsed, the sandbox up with private clusterlab dirs, and its
    SLURM-over-SSH profile polled every 30 s (so what is fast is the push, not a poll)."""
    from sandbox_profiles import setup

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--json")
    args = parser.parse_args()
    _, _, profiles = setup(poll_interval=30.0)
    return args, profiles["SLURM over SSH"]


def line_delays(stamped: Iterable[tuple[float, str]]) -> list[float]:
    """Per whole line of the texts (each with when it arrived), sorted: the arrival minus
    the print time the line carries as its second word."""
    delays, buf = [], ""
    for when, text in stamped:
        buf += text
        *whole, buf = buf.split("\n")
        delays += [when - float(line.split()[1]) for line in whole if line]
    return sorted(delays)


def delay_stats(delays: list[float]) -> Record:
    """The figures of sorted line delays that both follow benchmarks report."""
    return {
        "lines": len(delays),
        "median_s": statistics.median(delays),
        "p90_s": delays[int(0.9 * (len(delays) - 1))],
        "max_s": delays[-1],
    }


def delay_line(label: str, row: Record) -> str:
    """The start of a follow benchmark's printed row: its label and line delays."""
    return (
        f"{label:28} lines {row['lines']:3}  median {row['median_s'] * 1000:6.0f} ms  "
        f"p90 {row['p90_s'] * 1000:6.0f} ms  max {row['max_s'] * 1000:6.0f} ms  "
    )


def write_json(path: str | None, rows: Record) -> None:
    """Write a benchmark's rows where ``--json`` says (nothing without it)."""
    if path:
        with open(path, "w") as fh:
            json.dump(rows, fh, indent=2)
