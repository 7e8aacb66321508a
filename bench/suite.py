"""clusterlab side by side with submitit, dask-jobqueue, process pools, scp and the
scheduler's own limits, on the SLURM + SSH sandbox (`make bench`).

    python bench/suite.py [--quick] [--cases 1,2,...] [--repeat R] [--json PATH] [--no-docs]

Cases (targets from the benchmark issue):
  1 round trip of a no-op function (SSH and local transport) vs submitit vs `sbatch --wrap`
  2 map of N no-op items vs submitit map_array, dask-jobqueue and `sbatch --array`
  3 scheduler commands issued during case 2, per item and per poll (needs case 2's runs)
  4 kernel responsiveness while many submitted jobs are active (real ipykernel)
  5 the local scheduler vs ProcessPoolExecutor and loky
  6 a large numpy argument over SSH vs scp
  7 many small items from a cold start: the automatic plan and the worker pool

Writes every run, the medians, ratios and met/missed targets to JSON (default
bench/results/latest.json; quick runs: bench/results/quick.json), merged with the cases of
an earlier run of the same kind that were not rerun; then regenerates the section between
`<!-- bench:start -->` and `<!-- bench:end -->` of docs/performance.md and its plots
docs/images/bench-*.png. With --no-docs the section and plots go next to the JSON instead.
The sandbox is brought up if needed and never stopped (others may be using it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Context, is_number, medians, verdict

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOC = ROOT / "docs" / "performance.md"
IMAGES = ROOT / "docs" / "images"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
NEEDED = ("submitit", "dask_jobqueue", "distributed", "loky", "numpy", "matplotlib")
EXTRA = ("jupyter_client", "ipykernel")  # from the test extra, needed by case 4


@dataclasses.dataclass
class Case:
    """How to run, judge, show and plot one case of the issue."""

    key: str
    title: str
    module: str
    run: str  # function names in ``module``, looked up after the imports are checked
    assess: str
    render: str
    plot: str
    image: str


CASES = {
    "1": Case(
        "1",
        "Round trip of a no-op function",
        "cases_slurm",
        "run_roundtrip",
        "assess_roundtrip",
        "render_roundtrip",
        "plot_roundtrip",
        "bench-roundtrip.png",
    ),
    "2": Case(
        "2",
        "Map of N no-op items",
        "cases_slurm",
        "run_map",
        "assess_map",
        "render_map",
        "plot_map",
        "bench-map.png",
    ),
    "3": Case(
        "3",
        "Scheduler load during the map",
        "cases_slurm",
        "load_from_map",
        "assess_load",
        "render_load",
        "plot_load",
        "bench-calls.png",
    ),
    "4": Case(
        "4",
        "Kernel responsiveness with many active jobs",
        "cases_kernel",
        "run_kernel",
        "assess_kernel",
        "render_kernel",
        "plot_kernel",
        "bench-kernel.png",
    ),
    "5": Case(
        "5",
        "Local scheduler vs process pools",
        "cases_local",
        "run_local",
        "assess_local",
        "render_local",
        "plot_local",
        "bench-local.png",
    ),
    "6": Case(
        "6",
        "Payload transfer over SSH",
        "cases_payload",
        "run_payload",
        "assess_payload",
        "render_payload",
        "plot_payload",
        "bench-payload.png",
    ),
    "7": Case(
        "7",
        "Many small items: automatic plan and worker pool",
        "cases_items",
        "run_items",
        "assess_items",
        "render_items",
        "plot_items",
        "bench-items.png",
    ),
}


def check_dependencies() -> None:
    """Fail at once, with the fix, rather than after minutes of measuring."""
    missing = []
    for name in (*NEEDED, *EXTRA):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.exit(
            f"bench/suite.py: missing {', '.join(missing)}: "
            "run `.venv/bin/pip install -e '.[bench]'` (or `make bench`)"
        )


def fn(case: Case, attr: str) -> Callable[..., Any]:
    func: Callable[..., Any] = getattr(importlib.import_module(case.module), attr)
    return func


def _run(*argv: str) -> str:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd=ROOT, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    """What the numbers depend on, stored with them."""
    versions = {}
    for dist in (
        "clusterlab",
        "submitit",
        "dask-jobqueue",
        "distributed",
        "loky",
        "numpy",
        "paramiko",
        "cloudpickle",
        "ipykernel",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": sys.version.split()[0],
        "slurm": _run("sinfo", "--version"),
        "commit": _run("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(_run("git", "status", "--porcelain", "--", "python")),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat")
    parser.add_argument("--cases", default=",".join(CASES), help="e.g. 1,2,3 (default: all)")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default: per case)")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="leave docs/ alone: the Markdown section and plots go next to the JSON",
    )
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    name = "quick.json" if args.quick else "latest.json"
    args.json = (args.json or BENCH / "results" / name).resolve()
    return args


def finish(case: Case, raw: dict[str, Any], started: float, quick: bool) -> dict[str, Any]:
    """Medians, ratios and targets of one case's runs, in the JSON's shape."""
    runs = raw["runs"]
    out: dict[str, Any] = {
        "title": case.title,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "info": raw.get("info", {}),
        "runs": runs,
        "median": medians(runs),
        "errors": [f"{r['tool']} (N={r.get('n')}): {r['error']}" for r in runs if "error" in r],
        "ratios": {},
        "targets": [],
    }
    fn(case, case.assess)(out)
    return out


def run_cases(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """Bring the sandbox up, run the chosen cases: ({key: case result}, scratch dir)."""
    import cloudpickle
    from sandbox_profiles import setup
    from shim import CommandCounter

    from clusterlab.config.profile import Profile

    poll = next(f.default for f in dataclasses.fields(Profile) if f.name == "poll_interval")
    info, tmp, profiles = setup(poll_interval=float(poll))
    os.chdir(tmp)  # jobs started by sbatch inherit the cwd: keep their litter out of the repo
    ctx = Context(
        info=info,
        tmp=tmp,
        profiles={"ssh": profiles["SLURM over SSH"], "local": profiles["SLURM, local transport"]},
        quick=args.quick,
        repeat=args.repeat,
        commands=CommandCounter(tmp / "shim"),
    )
    # Functions of these modules are pickled by value (as a notebook's would be): the jobs
    # of every tool run where bench/ is not importable.
    for name in ("roundtrip", "map_array", "cases_slurm", "cases_local", "cases_payload"):
        cloudpickle.register_pickle_by_value(importlib.import_module(name))
    print(f"scratch dir {tmp}; poll_interval {poll} s (the profile default)", flush=True)

    wanted = list(args.cases)
    if "3" in wanted and "2" not in wanted:
        print("case 3 counts the commands of case 2's runs: running case 2 too", flush=True)
        wanted.insert(wanted.index("3"), "2")
    results: dict[str, Any] = {}
    for key in sorted(dict.fromkeys(wanted)):
        case = CASES[key]
        print(f"\n== case {key}: {case.title}", flush=True)
        started = time.perf_counter()
        try:
            if key == "3":
                raw = fn(case, case.run)(results["2"])
            elif key == "2":
                ctx.commands.activate()
                try:
                    raw = fn(case, case.run)(ctx)
                finally:
                    ctx.commands.deactivate()
            else:
                raw = fn(case, case.run)(ctx)
            results[key] = finish(case, raw, started, args.quick)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            results[key] = {
                "title": case.title,
                "quick": args.quick,
                "runs": [],
                "median": [],
                "errors": [f"the case failed: {type(exc).__name__}: {exc}"],
                "targets": [],
            }
        for t in results[key].get("targets", []):
            print(f"  target: {t['what']}: {t['value']} ({t['target']}) {verdict(t['met'])}")
    return results, tmp


# -- documents ------------------------------------------------------------------------------


def render(data: dict[str, Any]) -> str:
    """The Markdown between the markers: a targets summary, then a section per case."""
    m = data["machine"]
    quick = data.get("quick")
    lines = [
        "## Side by side (`make bench`)",
        "",
        "Generated by `bench/suite.py` from `bench/results/"
        + ("quick" if quick else "latest")
        + ".json`; do not edit by hand. "
        f"Last run {m['date'][:10]} (commit `{m['commit']}`"
        + (", library files modified" if m.get("dirty") else "")
        + f"): {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['slurm']}, load average {m['load_average'][0]} at the start. Every time is the "
        "**median** of the runs named in each case, every ratio a ratio of medians; the "
        "runs themselves are in the JSON.",
        "",
    ]
    if quick:
        lines += [
            "```{warning}",
            "Quick run (`--quick`): tiny sizes and one run each. These numbers only show "
            "that the suite works; run `make bench` for real ones.",
            "```",
            "",
        ]
    rows = []
    for key, case in sorted(data["cases"].items()):
        for t in case.get("targets", []):
            note = f" ({t['note']})" if t.get("note") else ""
            rows.append([key, t["what"] + note, t["target"], t["value"], verdict(t["met"])])
    lines += [
        "### Targets",
        "",
        "| Case | What | Target | Measured | |",
        "| --- | --- | --- | --- | --- |",
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
    ]
    for key, case in sorted(data["cases"].items()):
        spec = CASES[key]
        lines += [f"### {key}. {spec.title}", ""]
        info = case.get("info", {})
        when = f"Measured {case['date'][:16].replace('T', ' ')}" if "date" in case else ""
        reps = f", {info['repeat']} run(s) per measurement" if "repeat" in info else ""
        lines += [f"{when}{reps} ({case.get('seconds', '?')} s).", ""]
        if case.get("median"):
            lines.append(fn(spec, spec.render)(case).rstrip())
            lines.append("")
        for err in case.get("errors", []):
            lines.append(f"- Not measured: {err}")
        if case.get("errors"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_docs(data: dict[str, Any], doc: Path, images: Path) -> None:
    """Plots into ``images``; the section into ``doc`` between the markers (kept elsewhere)."""
    images.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    for key, case in data["cases"].items():
        spec = CASES[key]
        if case.get("median"):
            fn(spec, spec.plot)(case, images / spec.image)
    section = render(data)
    if doc == DOC:
        text = doc.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"{doc}: the markers {START} and {END} are missing")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{START}\n{section}{END}{tail}")
    else:  # next to the JSON, with the plots beside it
        doc.write_text(section.replace("](images/", "]("))


def merge(path: Path, results: dict[str, Any], quick: bool) -> dict[str, Any]:
    """This run's cases over those of an earlier run of the same kind (quick or full)."""
    cases: dict[str, Any] = {}
    try:
        old = json.loads(path.read_text())
        if old.get("quick") == quick:
            cases = old.get("cases", {})
    except (OSError, ValueError):
        pass
    cases.update(results)
    return {"quick": quick, "machine": machine(), "cases": dict(sorted(cases.items()))}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    check_dependencies()
    t0 = time.perf_counter()
    results, tmp = run_cases(args)
    os.chdir(ROOT)
    data = merge(args.json, results, args.quick)
    data["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(f"\nwrote {args.json}")
    if args.no_docs:
        write_docs(data, args.json.with_suffix(".md"), args.json.parent)
        print(f"wrote {args.json.with_suffix('.md')} and its plots (docs/ left alone)")
    else:
        write_docs(data, DOC, IMAGES)
        print(f"wrote {DOC.relative_to(ROOT)} and docs/images/bench-*.png")
    errors = [e for c in results.values() for e in c.get("errors", [])]
    bad = [
        k
        for k, c in results.items()
        if not any(
            is_number(v) for r in c["median"] for k, v in r.items() if k not in ("n", "runs")
        )
    ]
    print(f"total {time.perf_counter() - t0:.0f} s")
    if errors or bad:
        print("\nsome measurements failed:\n  " + "\n  ".join(errors), file=sys.stderr)
        print(f"(logs of the jobs are kept in {tmp})", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)  # job dirs, submitit/dask folders, the ledger
    return 0


if __name__ == "__main__":
    sys.exit(main())
