"""Case 5: the ``local`` scheduler next to concurrent.futures.ProcessPoolExecutor and loky.

Many tiny tasks (identity) show the per-task overhead; a few ~1 s pure-Python loops show
the speedup over running them one after another, on this machine's cores. Every pool is
created inside the timed region (a user's first map pays for its workers too).
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path
from typing import Any

from common import (
    Context,
    Record,
    attempt,
    fmt_s,
    fmt_x,
    md_table,
    pick,
    ratio,
    save_plot,
    target,
    value,
    verdict,
)

CL = "clusterlab local scheduler, map (default plan)"
PPE = "concurrent.futures.ProcessPoolExecutor"
LOKY = "loky ProcessPoolExecutor"
SERIAL = "serial (one process, in a loop)"
TINY, CPU = "tiny", "cpu"
TOOLS = (CL, PPE, LOKY)


def identity(x: int) -> int:
    return x


def spin(n: int) -> int:
    """Pure-Python work that holds the GIL: only processes can run it in parallel."""
    total = 0
    for i in range(n):
        total += i
    return total


def calibrate(seconds: float) -> int:
    """The loop length that takes about ``seconds`` here."""
    n = 200_000
    t0 = time.perf_counter()
    spin(n)
    return max(1, int(n * seconds / (time.perf_counter() - t0)))


def sizes(ctx: Context) -> tuple[int, int, float]:
    """(tiny tasks, CPU-bound tasks, seconds per CPU-bound task)."""
    return (100, 2, 0.5) if ctx.quick else (10_000, 8, 1.0)


def workers() -> int:
    return os.cpu_count() or 1


def _cl_function(fn: Any) -> Any:
    import clusterlab as cl

    profile = cl.Profile(name="b-local-sched", scheduler="local")
    cl.profiles.save(profile)
    f = cl.cluster(profile)(fn)
    f(0)  # warm-up: the backend's thread and the ledger exist from then on
    return f


def clusterlab_map(fn: Any, items: list[int]) -> Record:
    f = _cl_function(fn)
    t0 = time.perf_counter()
    arr = f.map(items)
    results = arr.results(timeout=3600)
    elapsed = time.perf_counter() - t0
    assert len(results) == len(items) and (fn is not identity or results == items)
    return {"time_s": elapsed, "plan": str(getattr(arr, "plan", ""))}


def pool_map(make: Any, fn: Any, items: list[int]) -> Record:
    t0 = time.perf_counter()
    with make(max_workers=workers()) as ex:
        results = list(ex.map(fn, items))
    elapsed = time.perf_counter() - t0
    assert len(results) == len(items)
    return {"time_s": elapsed}


def run_local(ctx: Context) -> dict[str, Any]:
    import loky

    repeat = ctx.repeats(3)
    n_tiny, n_cpu, seconds = sizes(ctx)
    loop = calibrate(seconds)
    tiny, cpu = list(range(n_tiny)), [loop] * n_cpu
    runs: list[Record] = []
    makers = {PPE: concurrent.futures.ProcessPoolExecutor, LOKY: loky.ProcessPoolExecutor}
    for rep in range(repeat):
        print(f"  local, run {rep + 1}/{repeat}", flush=True)
        for kind, fn, items in ((TINY, identity, tiny), (CPU, spin, cpu)):
            n = len(items)
            if kind == CPU:

                def serial(items: list[int] = items) -> Record:
                    t0 = time.perf_counter()
                    for x in items:
                        spin(x)
                    return {"time_s": time.perf_counter() - t0}

                attempt(runs, f"{kind}: {SERIAL}", n, serial)
            attempt(runs, f"{kind}: {CL}", n, lambda fn=fn, items=items: clusterlab_map(fn, items))
            for tool, make in makers.items():
                attempt(
                    runs,
                    f"{kind}: {tool}",
                    n,
                    lambda make=make, fn=fn, items=items: pool_map(make, fn, items),
                )
    info = {
        "repeat": repeat,
        "tiny_tasks": n_tiny,
        "cpu_tasks": n_cpu,
        "cpu_task_s": seconds,
        "loop": loop,
        "workers": workers(),
    }
    return {"runs": runs, "info": info}


def assess_local(case: dict[str, Any]) -> None:
    meds = case["median"]
    info = case["info"]
    nt, nc = info["tiny_tasks"], info["cpu_tasks"]
    per_task = {t: _div(value(meds, f"{TINY}: {t}", "time_s", nt), nt) for t in TOOLS}
    serial = value(meds, f"{CPU}: {SERIAL}", "time_s", nc)
    speedup = {t: ratio(serial, value(meds, f"{CPU}: {t}", "time_s", nc)) for t in TOOLS}
    case["derived"] = {
        **{f"overhead per tiny task (s), {t}": v for t, v in per_task.items()},
        **{f"speedup vs serial, {t}": v for t, v in speedup.items()},
    }
    r = ratio(per_task[CL], per_task[PPE])
    case["ratios"] = {
        "clusterlab / ProcessPoolExecutor per-task overhead": r,
        "clusterlab / loky per-task overhead": ratio(per_task[CL], per_task[LOKY]),
    }
    case["targets"] = [
        target(
            f"local scheduler: overhead per tiny task vs ProcessPoolExecutor ({nt:,} tasks)",
            "≤ 1.5x",
            fmt_x(r),
            None if r is None else r <= 1.5,
        )
    ]


def render_local(case: dict[str, Any]) -> str:
    meds = case["median"]
    info = case["info"]
    nt, nc = info["tiny_tasks"], info["cpu_tasks"]
    d = case["derived"]
    rows = []
    ppe = d[f"overhead per tiny task (s), {PPE}"]
    for tool in TOOLS:
        over = d[f"overhead per tiny task (s), {tool}"]
        goal = ""
        if tool == CL:
            goal = f"≤ 1.5x ProcessPoolExecutor: {verdict(case['targets'][0]['met'])}"
        rec = pick(meds, f"{TINY}: {tool}", nt) or {}
        plan = f" ({rec['plan']})" if rec.get("plan") else ""
        rows.append(
            [
                tool + plan,
                fmt_s(value(meds, f"{TINY}: {tool}", "time_s", nt)),
                fmt_s(over),
                fmt_x(ratio(over, ppe)),
                fmt_s(value(meds, f"{CPU}: {tool}", "time_s", nc)),
                fmt_x(d[f"speedup vs serial, {tool}"]),
                goal,
            ]
        )
    serial = value(meds, f"{CPU}: {SERIAL}", "time_s", nc)
    rows.append([SERIAL, "—", "—", "—", fmt_s(serial), "1.00x", ""])
    table = md_table(
        [
            "Tool",
            f"{nt:,} tiny tasks",
            "Per task",
            "x ProcessPoolExecutor",
            f"{nc} CPU-bound tasks (~{info['cpu_task_s']:g} s each)",
            "Speedup vs serial",
            "Target",
        ],
        rows,
    )
    return (
        f"{table}\n\n{info['workers']} workers each (this machine's cores); pools are created "
        "inside the timed region, clusterlab after one warm-up call."
        "\n\n![Local scheduler vs process pools](images/bench-local.png)\n"
    )


def plot_local(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    d = case["derived"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    labels = ["clusterlab", "ProcessPool", "loky"]
    a1.bar(labels, [1000 * (d[f"overhead per tiny task (s), {t}"] or 0) for t in TOOLS])
    a1.set_ylabel("ms per tiny task")
    a1.set_title(f"{case['info']['tiny_tasks']:,} tiny tasks")
    a2.bar(labels, [d[f"speedup vs serial, {t}"] or 0 for t in TOOLS])
    a2.axhline(case["info"]["workers"], color="grey", linestyle="--", linewidth=1)
    a2.set_ylabel("speedup vs serial")
    a2.set_title(f"{case['info']['cpu_tasks']} CPU-bound tasks")
    save_plot(fig, path)


def _div(a: float | None, b: float) -> float | None:
    return None if a is None else a / b
