"""Case 7: many small items, from a cold start: the automatic plan and the worker pool.

Each run uses a new profile name, so it gets a new runtime: a new SSH connection, the
remote Python probe and the scheduler's limits (MaxArraySize, free CPUs) are all paid
inside the timed region, like a user's first map of a session. The many-small-tasks issue
asks for 1,000 items at most dask-jobqueue's cold time (case 2), aiming under 5 s here,
with one ``sbatch``, and 10,000 items in under 3x the 1,000-item time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import map_array
from common import (
    Context,
    Record,
    attempt,
    fmt_n,
    fmt_s,
    fmt_x,
    md_table,
    ratio,
    save_plot,
    target,
    value,
)

PLAN = "clusterlab over SSH, automatic plan"
POOL = "clusterlab over SSH, workers=16 (pool)"
TOOLS = (PLAN, POOL)


def sizes(ctx: Context) -> tuple[int, int]:
    return (100, 1000) if ctx.quick else (1000, 10_000)


def cold_map(ctx: Context, n: int, tag: str, workers: int | None = None) -> Record:
    """``map_array.clusterlab_map`` on a profile nobody used yet, then disconnected so the
    next run starts cold too."""
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    profile = dataclasses.replace(ctx.profiles["ssh"], name=f"b-items-{tag}")
    rec = map_array.clusterlab_map(profile, n, warm=False, workers=workers)
    get_runtime(profile).transport.close()
    cl.profiles.delete(profile.name)
    return rec


def run_items(ctx: Context) -> dict[str, Any]:
    repeat = ctx.repeats(3)
    small, large = sizes(ctx)
    runs: list[Record] = []
    stamp = time.strftime("%H%M%S")
    for rep in range(repeat):
        print(f"  items, run {rep + 1}/{repeat}", flush=True)
        for n in (small, large):
            tag = f"{stamp}-{rep}-{n}"
            attempt(runs, PLAN, n, lambda n=n, tag=tag: cold_map(ctx, n, f"p{tag}"))
            attempt(runs, POOL, n, lambda n=n, tag=tag: cold_map(ctx, n, f"w{tag}", workers=16))
    return {"runs": runs, "info": {"repeat": repeat, "sizes": [small, large]}}


def assess_items(case: dict[str, Any]) -> None:
    meds = case["median"]
    small, large = case["info"]["sizes"]
    t_small = value(meds, PLAN, "time_s", small)
    grow = ratio(value(meds, PLAN, "time_s", large), t_small)
    case["ratios"] = {
        f"automatic plan, {large:,} / {small:,} items": grow,
        f"pool, {large:,} / {small:,} items": ratio(
            value(meds, POOL, "time_s", large), value(meds, POOL, "time_s", small)
        ),
    }
    case["targets"] = [
        target(
            f"map of {small:,} no-op items from a cold start (automatic plan)",
            "< 5 s here, and at most dask-jobqueue's cold time (case 2)",
            fmt_s(t_small),
            None if t_small is None else t_small < 5.0,
        ),
        target(
            f"map of {large:,} items vs {small:,} items",
            "< 3x",
            fmt_x(grow),
            None if grow is None else grow < 3.0,
        ),
    ]


def render_items(case: dict[str, Any]) -> str:
    meds = case["median"]
    rows = []
    for tool in TOOLS:
        for n in case["info"]["sizes"]:
            rec = next((m for m in meds if m["tool"] == tool and m.get("n") == n), None)
            if rec is None:
                continue
            plan = rec.get("plan", "")
            rows.append(
                [
                    tool,
                    f"{n:,}",
                    plan if isinstance(plan, str) else ", ".join(plan),
                    fmt_s(value(meds, tool, "time_s", n)),
                    fmt_s(value(meds, tool, "submit_s", n)),
                    fmt_s(value(meds, tool, "work_span_s", n)),
                    fmt_n(value(meds, tool, "polls", n)),
                    fmt_n(value(meds, tool, "round_trips", n)),
                ]
            )
    table = md_table(
        [
            "Tool",
            "Items",
            "Plan",
            "Cold start to all results",
            "`map()` returned",
            "First start to last end",
            "Polls",
            "SSH round trips",
        ],
        rows,
    )
    return (
        f"{table}\n\nEvery run starts cold: a new profile, so a new SSH connection, the "
        "remote Python probe and the scheduler's limits are inside the time. One `sbatch` "
        "per map; each poll is one `squeue` plus the status files, in one round trip."
        "\n\n![Many small items](images/bench-items.png)\n"
    )


def plot_items(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    meds = case["median"]
    sizes_ = case["info"]["sizes"]
    fig, ax = plt.subplots(figsize=(7, 3))
    for tool, colour in zip(TOOLS, ("#1f77b4", "#ff7f0e"), strict=True):
        ys = [value(meds, tool, "time_s", n) for n in sizes_]
        ax.plot(sizes_, [y or 0.0 for y in ys], marker="o", label=tool, color=colour)
    ax.set_xscale("log")
    ax.set_xlabel("items")
    ax.set_ylabel("cold start to all results (s)")
    ax.set_title("Many small items over SSH")
    ax.legend(fontsize=8)
    save_plot(fig, path)
