"""Cases 1-3 on the SLURM sandbox: round trip, map of N items, and the scheduler load.

clusterlab's own measurements are bench/roundtrip.py's and bench/map_array.py's functions
(imported, so the standalone scripts and the suite measure the same thing); here are the
other tools on the same sandbox: submitit (sbatch + its result file), dask-jobqueue (one
SLURM job per worker, tasks over TCP) and the raw ``sbatch`` limits.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from pathlib import Path
from typing import Any

import map_array
import roundtrip
from common import (
    Context,
    Record,
    attempt,
    fmt_n,
    fmt_s,
    fmt_x,
    is_number,
    md_table,
    pick,
    ratio,
    save_plot,
    stderr_to,
    target,
    value,
    verdict,
)

LIMIT_1 = "sbatch --wrap true, squeue every 50 ms (limit)"
CL_SSH = "clusterlab, SLURM over SSH"
CL_LOCAL = "clusterlab, SLURM via local transport"
SUBMITIT = "submitit (AutoExecutor, slurm)"

RAW = "raw sbatch --array (limit)"
CL_SSH_DEFAULT = "clusterlab over SSH, default plan"
CL_SSH_ONE = "clusterlab over SSH, chunksize=1"
CL_LOCAL_DEFAULT = "clusterlab local transport, default plan"
CL_LOCAL_ONE = "clusterlab local transport, chunksize=1"
SUBMITIT_MAP = "submitit map_array"
DASK_COLD = "dask-jobqueue, cold (cluster start to results)"
DASK_WARM = "dask-jobqueue, warm (second map, same workers)"
MAP_TOOLS = [
    RAW,
    CL_SSH_DEFAULT,
    CL_SSH_ONE,
    CL_LOCAL_DEFAULT,
    CL_LOCAL_ONE,
    SUBMITIT_MAP,
    DASK_COLD,
    DASK_WARM,
]
SSH_TOOLS = {CL_SSH_DEFAULT, CL_SSH_ONE}
_folders = itertools.count()


def sizes(ctx: Context) -> list[int]:
    return [4, 16] if ctx.quick else [10, 100, 1000]


def dask_workers(ctx: Context) -> int:
    return 2 if ctx.quick else 8


# -- submitit -------------------------------------------------------------------------------


def submitit_executor(ctx: Context) -> Any:
    """submitit on the sandbox partition; its jobs run as root with this very Python."""
    import submitit

    logging.getLogger("submitit").setLevel(logging.ERROR)  # its sacct fails here (see docs)
    folder = ctx.tmp / "submitit" / f"run{next(_folders)}"
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_python=sys.executable)
    ex.update_parameters(
        slurm_partition=ctx.info.partition,
        slurm_mem="100M",
        timeout_min=30,
        cpus_per_task=1,
        name="bench-submitit",
    )
    return ex


def submitit_results(jobs: list[Any], timeout: float) -> list[Any]:
    """``[j.result() for j in jobs]`` with a deadline: submitit learns that a job died only
    from ``sacct``, which fails without accounting storage, so it would wait forever.
    Like ``Job.wait()`` it checks for the result files every second."""
    deadline = time.monotonic() + timeout
    while not all(j.done() for j in jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"submitit: results missing after {timeout} s")
        time.sleep(1)
    return [j.result() for j in jobs]


def submitit_roundtrip(ctx: Context, repeat: int) -> list[Record]:
    with stderr_to(ctx.tmp / "submitit-stderr.log"):
        ex = submitit_executor(ctx)
        submitit_results([ex.submit(roundtrip.noop)], 300)  # warm-up, as for every tool
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            submitit_results([ex.submit(roundtrip.noop)], 300)
            out.append({"time_s": time.perf_counter() - t0})
    return out


def submitit_map(ctx: Context, n: int) -> Record:
    counts0 = ctx.commands.totals()
    with stderr_to(ctx.tmp / "submitit-stderr.log"):
        ex = submitit_executor(ctx)
        t0 = time.perf_counter()
        jobs = ex.map_array(map_array.noop, range(n))
        submitted = time.perf_counter() - t0
        results = submitit_results(jobs, 300 if ctx.quick else 3600)
        elapsed = time.perf_counter() - t0
    assert results == list(range(n))
    return {
        "time_s": elapsed,
        "submit_s": submitted,
        "commands": ctx.commands.delta(counts0, ctx.commands.totals()),
    }


# -- dask-jobqueue --------------------------------------------------------------------------


def dask_map(ctx: Context, n: int) -> list[Record]:
    """Cold: from creating the SLURMCluster to all results; warm: a second map."""
    from dask_jobqueue import SLURMCluster
    from distributed import Client, wait

    def noop(x: int) -> int:
        # nested, so dask pickles it by value: its workers cannot import bench/ modules
        # (its task objects go through plain pickle, which names module functions by import)
        return x

    limit = 300 if ctx.quick else 1800
    counts0 = ctx.commands.totals()
    t0 = time.perf_counter()
    cluster = SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        queue=ctx.info.partition,
        walltime="00:30:00",
        python=sys.executable,
        job_name="bench-dask",
        log_directory=str(ctx.tmp / "dask-logs"),
        local_directory=str(ctx.tmp / "dask-local"),
        scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
        silence_logs="error",
    )
    try:
        cluster.scale(jobs=dask_workers(ctx))
        with Client(cluster) as client:
            futures = client.map(noop, range(n), pure=False)
            wait(futures, timeout=limit)
            results = client.gather(futures)
            cold = time.perf_counter() - t0
            t1 = time.perf_counter()
            futures = client.map(noop, range(n), pure=False)
            wait(futures, timeout=limit)
            again = client.gather(futures)
            warm = time.perf_counter() - t1
    finally:
        cluster.close()
    assert results == again == list(range(n))
    commands = ctx.commands.delta(counts0, ctx.commands.totals())
    return [
        {"tool": DASK_COLD, "time_s": cold, "workers": dask_workers(ctx), "commands": commands},
        {"tool": DASK_WARM, "time_s": warm, "workers": dask_workers(ctx)},
    ]


def raw_map(ctx: Context, n: int) -> Record:
    counts0 = ctx.commands.totals()
    elapsed = map_array.raw_array(n, timeout=1800)
    return {"time_s": elapsed, "commands": ctx.commands.delta(counts0, ctx.commands.totals())}


# -- case 1 ---------------------------------------------------------------------------------


def run_roundtrip(ctx: Context) -> dict[str, Any]:
    repeat = ctx.repeats(10)
    runs: list[Record] = []
    roundtrip.sbatch_limit(1)  # the first job after a quiet spell is slow for everyone
    attempt(runs, LIMIT_1, None, lambda: [{"time_s": t} for t in roundtrip.sbatch_limit(repeat)])
    for tool, key in ((CL_SSH, "ssh"), (CL_LOCAL, "local")):

        def one(key: str = key) -> list[Record]:
            res = roundtrip.clusterlab_case(ctx.profiles[key], repeat)
            per_job = {
                "round_trips_per_job": res["round_trips_per_job"],
                "polls_per_job": res["polls_per_job"],
            }
            return [{"time_s": t, **per_job} for t in res["times"]]

        attempt(runs, tool, None, one)
    attempt(runs, SUBMITIT, None, lambda: submitit_roundtrip(ctx, repeat))
    return {"runs": runs, "info": {"repeat": repeat}}


def assess_roundtrip(case: dict[str, Any]) -> None:
    meds = case["median"]
    limit = value(meds, LIMIT_1, "time_s")
    over = {t: _minus(value(meds, t, "time_s"), limit) for t in (CL_SSH, CL_LOCAL, SUBMITIT)}
    case["ratios"] = {
        f"{t} / limit": ratio(value(meds, t, "time_s"), limit) for t in (CL_SSH, CL_LOCAL, SUBMITIT)
    }
    case["derived"] = {f"{t} above the limit (s)": v for t, v in over.items()}
    ssh = over[CL_SSH]
    case["targets"] = [
        target(
            "clusterlab over SSH: round trip above the scheduler limit",
            "< 0.3 s",
            fmt_s(ssh),
            None if ssh is None else ssh < 0.3,
        )
    ]


def render_roundtrip(case: dict[str, Any]) -> str:
    meds = case["median"]
    limit = value(meds, LIMIT_1, "time_s")
    rows = []
    for tool in (LIMIT_1, CL_SSH, CL_LOCAL, SUBMITIT):
        t = value(meds, tool, "time_s")
        over = _minus(t, limit)
        goal = ""
        if tool == CL_SSH:
            goal = f"< 0.3 s above the limit: {verdict(case['targets'][0]['met'])}"
        rec = pick(meds, tool) or {}
        rows.append(
            [
                tool,
                fmt_s(t),
                "—" if tool == LIMIT_1 else _signed(over),
                "—" if tool == LIMIT_1 else fmt_x(ratio(t, limit)),
                fmt_n(rec.get("round_trips_per_job")),
                fmt_n(rec.get("polls_per_job")),
                goal,
            ]
        )
    table = md_table(
        [
            "Tool",
            "Median round trip",
            "Above the limit",
            "x limit",
            "Transport round trips / job",
            "Polls / job",
            "Target",
        ],
        rows,
    )
    return (
        f"{table}\n\nsubmitit waits by checking for its result file every second (its `sacct` "
        "calls fail here: the sandbox has no accounting storage), so its round trip is "
        "rounded up to the next second.\n\n![Round trip of a no-op function, medians]"
        "(images/bench-roundtrip.png)\n"
    )


def plot_roundtrip(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    meds = case["median"]
    tools = [t for t in (LIMIT_1, CL_SSH, CL_LOCAL, SUBMITIT) if value(meds, t, "time_s")]
    times = [value(meds, t, "time_s") or 0.0 for t in tools]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    colors = [
        "#999999" if t == LIMIT_1 else "#1f77b4" if "clusterlab" in t else "#ff7f0e" for t in tools
    ]
    ax.barh(tools[::-1], times[::-1], color=colors[::-1])
    ax.set_xlabel("seconds to the result (median)")
    ax.set_title("Round trip of a no-op function")
    save_plot(fig, path)


# -- case 2 (and the counts of case 3) ------------------------------------------------------


def run_map(ctx: Context) -> dict[str, Any]:
    repeat = ctx.repeats(3)
    runs: list[Record] = []
    count = ctx.commands.totals
    ssh, local = ctx.profiles["ssh"], ctx.profiles["local"]
    for rep in range(repeat):
        for n in sizes(ctx):
            print(f"  map, run {rep + 1}/{repeat}, N={n}", flush=True)
            attempt(runs, RAW, n, lambda n=n: raw_map(ctx, n))
            attempt(runs, CL_SSH_DEFAULT, n, lambda n=n: map_array.clusterlab_map(ssh, n))
            attempt(runs, CL_SSH_ONE, n, lambda n=n: map_array.clusterlab_map(ssh, n, 1))
            attempt(
                runs,
                CL_LOCAL_DEFAULT,
                n,
                lambda n=n: map_array.clusterlab_map(local, n, commands=count),
            )
            attempt(runs, CL_LOCAL_ONE, n, lambda n=n: map_array.clusterlab_map(local, n, 1, count))
            attempt(runs, SUBMITIT_MAP, n, lambda n=n: submitit_map(ctx, n))
            attempt(runs, DASK_COLD, n, lambda n=n: dask_map(ctx, n))
    return {
        "runs": runs,
        "info": {"repeat": repeat, "sizes": sizes(ctx), "dask_workers": dask_workers(ctx)},
    }


def assess_map(case: dict[str, Any]) -> None:
    meds = case["median"]
    ns = case["info"]["sizes"]
    case["ratios"] = {
        f"{tool} / raw @ N={n}": ratio(
            value(meds, tool, "time_s", n), value(meds, RAW, "time_s", n)
        )
        for n in ns
        for tool in MAP_TOOLS
        if tool != RAW
    }
    n = max(ns)
    at = "" if n == 1000 else f"measured at N={n}, the largest of this run"
    cl = value(meds, CL_SSH_DEFAULT, "time_s", n)
    r = ratio(cl, value(meds, RAW, "time_s", n))
    sub = value(meds, SUBMITIT_MAP, "time_s", n)
    dask = value(meds, DASK_COLD, "time_s", n)
    case["targets"] = [
        target(
            "clusterlab over SSH (default plan) vs raw `sbatch --array`, N = 1,000",
            "≤ 1.2x",
            fmt_x(r),
            None if r is None else r <= 1.2,
            at,
        ),
        target(
            "… and ahead of submitit map_array",
            "faster",
            f"{fmt_s(cl)} vs {fmt_s(sub)}",
            None if cl is None or sub is None else cl < sub,
            at,
        ),
        target(
            "… and ahead of dask-jobqueue (cold)",
            "faster",
            f"{fmt_s(cl)} vs {fmt_s(dask)}",
            None if cl is None or dask is None else cl < dask,
            at,
        ),
    ]


def render_map(case: dict[str, Any]) -> str:
    meds = case["median"]
    ns = case["info"]["sizes"]
    header = ["Tool", *[f"N = {n:,}" for n in ns], *[f"x raw, N = {n:,}" for n in ns]]
    rows = []
    for tool in MAP_TOOLS:
        times = [value(meds, tool, "time_s", n) for n in ns]
        if not any(times):
            continue
        ratios = [ratio(t, value(meds, RAW, "time_s", n)) for t, n in zip(times, ns, strict=True)]
        rows.append([tool, *map(fmt_s, times), *("—" if tool == RAW else fmt_x(x) for x in ratios)])
    plans = []
    for tool in (CL_SSH_DEFAULT, CL_SSH_ONE):
        shown = [str((pick(meds, tool, n) or {}).get("plan", "—")) for n in ns]
        plans.append([tool, *shown])
    workers = case["info"].get("dask_workers")
    notes = (
        f"Wall time from the call to every result (medians of {case['info']['repeat']} runs). "
        "clusterlab's numbers include submission; each clusterlab run follows one warm-up "
        f"call (SSH connection open). dask-jobqueue uses {workers} single-core worker jobs "
        "(`cluster.scale(jobs=…)`); *cold* counts from creating the cluster, *warm* is a "
        "second map on the same workers. How clusterlab cut the items (`arr.plan`):\n\n"
    )
    return (
        md_table(header, rows)
        + "\n\n"
        + notes
        + md_table(["Tool", *[f"N = {n:,}" for n in ns]], plans)
        + "\n\n![Wall time to all results vs N, log-log](images/bench-map.png)\n"
    )


def plot_map(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    meds = case["median"]
    ns = case["info"]["sizes"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for tool in MAP_TOOLS:
        pts = [(n, value(meds, tool, "time_s", n)) for n in ns]
        pts = [(n, t) for n, t in pts if t]
        if not pts:
            continue
        style = "k--" if tool == RAW else "-o" if "clusterlab" in tool else ":s"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=tool)
    _log_n_axis(ax, ns)
    ax.set_xlabel("N (no-op items)")
    ax.set_ylabel("seconds to all results (median)")
    ax.set_title("Map of N no-op items on the SLURM sandbox")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    save_plot(fig, path)


# -- case 3: the scheduler commands of case 2's runs ----------------------------------------


def load_from_map(map_case: dict[str, Any]) -> dict[str, Any]:
    """Per run: the commands each tool issued (shims), or the SSH runtime's counters."""
    runs: list[Record] = []
    for run in map_case["runs"]:
        if "error" in run:
            continue
        n = run["n"]
        rec: Record = {"tool": run["tool"], "n": n}
        if run["tool"] in SSH_TOOLS:
            # over SSH the commands run as the remote user: each poll is one squeue (in one
            # round trip with the status files), each native array one sbatch
            rec.update(
                {
                    "sbatch": run.get("native_arrays", 0),
                    "squeue": run["polls"],
                    "polls": run["polls"],
                    "round_trips": run["round_trips"],
                    "source": "runtime counters (SSH)",
                }
            )
        elif "commands" in run:
            rec.update(run["commands"])
            rec["source"] = "PATH shims"
            if "polls" in run:
                rec["polls"] = run["polls"]
                rec["round_trips"] = run["round_trips"]
        else:
            continue
        total = sum(rec.get(c, 0) for c in ("sbatch", "squeue", "sacct", "scontrol", "scancel"))
        rec["total"] = total
        rec["per_item"] = total / n
        if rec.get("polls"):
            rec["per_poll"] = rec["squeue"] / rec["polls"]
            rec["round_trips_per_poll"] = rec["round_trips"] / rec["polls"]
        runs.append(rec)
    return {"runs": runs, "info": {"sizes": map_case["info"]["sizes"], "from": "case 2"}}


def assess_load(case: dict[str, Any]) -> None:
    meds = case["median"]
    ns = case["info"]["sizes"]
    per_poll = [value(meds, CL_LOCAL_ONE, "per_poll", n) for n in ns]
    per_poll += [value(meds, CL_LOCAL_DEFAULT, "per_poll", n) for n in ns]
    seen = [p for p in per_poll if p is not None]
    met = None if not seen else max(seen) <= 1.0 + 1e-9
    case["targets"] = [
        target(
            "clusterlab: scheduler commands per poll, all N (local transport, counted by shims)",
            "O(1) in N (1 squeue)",
            ", ".join(f"{p:.2f}" for p in seen) or "—",
            met,
        )
    ]


def render_load(case: dict[str, Any]) -> str:
    meds = case["median"]
    ns = case["info"]["sizes"]
    rows = []
    for tool in MAP_TOOLS:
        for n in ns:
            rec = pick(meds, tool, n)
            if rec is None:
                continue
            calls = ", ".join(
                f"{rec[c]:g} {c}"
                for c in ("sbatch", "squeue", "sacct", "scontrol", "scancel")
                if is_number(rec.get(c)) and rec[c]
            )
            rows.append(
                [
                    tool,
                    f"{n:,}",
                    calls or "0",
                    fmt_n(rec.get("per_item"), 3),
                    fmt_n(rec.get("polls")),
                    fmt_n(rec.get("per_poll"), 2),
                    fmt_n(rec.get("round_trips_per_poll"), 2),
                    str(rec.get("source", "")),
                ]
            )
    table = md_table(
        [
            "Tool",
            "N",
            "Scheduler commands (median)",
            "Per item",
            "Polls",
            "Commands / poll",
            "Round trips / poll",
            "Counted by",
        ],
        rows,
    )
    return (
        f"{table}\n\nThe raw limit polls `squeue` every 0.2 s; submitit polls `sacct` (failing "
        "here) besides its result files; dask-jobqueue submits one job per worker and "
        "cancels them at `close()`. Over SSH the commands run as the remote user, so they "
        "are the runtime's counters (`transport.round_trips`, `watcher.polls`: one `squeue` "
        "per poll by construction); via the local transport the same backend code is "
        "counted by the shims.\n\n![Scheduler commands per run vs N](images/bench-calls.png)\n"
    )


def plot_load(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    meds = case["median"]
    ns = case["info"]["sizes"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for tool in MAP_TOOLS:
        pts = [(n, value(meds, tool, "total", n)) for n in ns]
        pts = [(n, t) for n, t in pts if t]
        if pts:
            style = "k--" if tool == RAW else "-o" if "clusterlab" in tool else ":s"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=tool)
    _log_n_axis(ax, ns)
    ax.set_xlabel("N (no-op items)")
    ax.set_ylabel("scheduler commands per map (median)")
    ax.set_title("Scheduler load of a map of N items")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    save_plot(fig, path)


def _log_n_axis(ax: Any, ns: list[int]) -> None:
    """Log-log, with the measured N as the x ticks (plain numbers, not 10^k)."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ns)
    ax.set_xticklabels([f"{n:,}" for n in ns])
    ax.xaxis.set_minor_locator(NullLocator())


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _signed(x: float | None) -> str:
    if x is None:
        return "—"
    return ("+" if x >= 0 else "-") + fmt_s(abs(x))
