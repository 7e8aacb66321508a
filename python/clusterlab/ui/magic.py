"""``%%cluster``: run a whole cell on a cluster, as if it ran here.

The names the cell reads are shipped (found by static analysis, or ``--in``), the names it
assigns come back (or ``--out``), prints appear in the cell, and a remote exception shows
a traceback whose frames point at the cell's own lines.
"""

from __future__ import annotations

import ast
import shlex
import sys
from collections.abc import Callable
from typing import Any

import cloudpickle

from ..api import cluster, wait_and_show
from ..common.errors import ClusterlabError, SerializationError
from ..core.job import Job
from .cellvars import analyze

CELL_FILENAME = "<cluster-cell>"
# Kernel plumbing that must never be shipped.
_NEVER_SHIP = {"In", "Out", "get_ipython", "exit", "quit", "_", "__", "___"}


# Resources written as text on the line (gpus too: "2" or "a100:2"), validated by the
# decorator's parser like every other way of asking for them.
RESOURCE_TEXT_OPTIONS = ("memory", "time", "gpus", "partition", "account", "qos", "constraint")


class MagicUsageError(ClusterlabError, ValueError):
    """The %%cluster line is malformed (shown without a traceback in notebooks)."""


def make_cell_runner() -> Callable[..., Any]:
    """The remote side of a cell. Built by a factory so cloudpickle ships it by value (the
    cluster needs only cloudpickle, not clusterlab)."""

    def run_cell(source: str, inputs: dict[str, Any], outputs: list[str]) -> Any:
        import ast as ast_
        import linecache

        import cloudpickle as cp

        filename = "<cluster-cell>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        tree = ast_.parse(source, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast_.Expr):
            last = ast_.Expression(tree.body[-1].value)
            tree.body.pop()
        ns: dict[str, Any] = {"__name__": "__main__", **inputs}
        exec(compile(tree, filename, "exec"), ns)  # noqa: S102 - running the user's cell is the point
        value = eval(compile(last, filename, "eval"), ns) if last else None  # noqa: S307
        back: dict[str, Any] = {}
        skipped: dict[str, str] = {}
        for name in outputs:
            if name not in ns:
                continue
            try:
                cp.dumps(ns[name])
            except Exception as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}"
                continue
            back[name] = ns[name]
        return {"outputs": back, "skipped": skipped, "value": value}

    return run_cell


def parse_line(line: str) -> dict[str, Any]:
    """The magic's options; a mistake raises MagicUsageError showing the usage."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="%%cluster",
        add_help=False,
        exit_on_error=False,
        usage="%%cluster [PROFILE] [--cores N] [--memory M] [--time T] [--gpus G|TYPE:G] "
        "[--nodes N] [--tasks N] [--partition P] [--account A] [--qos Q] [--constraint C] "
        "[--name NAME] [--async] [--in a,b] [--out x,y]",
    )
    parser.add_argument("profile", nargs="?")
    for opt in ("cores", "nodes", "tasks"):
        parser.add_argument(f"--{opt}", type=int)
    for opt in (*RESOURCE_TEXT_OPTIONS, "name"):
        parser.add_argument(f"--{opt}")
    parser.add_argument("--async", dest="async_", action="store_true")
    parser.add_argument("--in", dest="inputs")
    parser.add_argument("--out", dest="outputs")
    try:
        args, unknown = parser.parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit, ValueError) as exc:
        raise MagicUsageError(f"{exc}\nusage: {parser.usage}") from None
    if unknown:
        raise MagicUsageError(f"unknown option(s) {' '.join(unknown)}\nusage: {parser.usage}")
    return vars(args)


def _split(names: str | None) -> list[str] | None:
    return [n.strip() for n in names.split(",") if n.strip()] if names else None


class CellRun:
    """One ``%%cluster`` execution against a user namespace."""

    def __init__(self, line: str, source: str, user_ns: dict[str, Any]) -> None:
        self.opts = parse_line(line)
        self.source = source
        self.user_ns = user_ns
        ast.parse(source, CELL_FILENAME)  # a syntax error fails here, locally, at once
        reads, writes = analyze(source)
        wanted_in = _split(self.opts["inputs"])
        names = wanted_in if wanted_in is not None else reads
        self.inputs = {
            n: user_ns[n]
            for n in names
            if n in user_ns and n not in _NEVER_SHIP and not n.startswith("_i")
        }
        if wanted_in:
            missing = [n for n in wanted_in if n not in user_ns]
            if missing:
                raise NameError(f"--in names {', '.join(missing)}, not defined in the notebook")
        self.outputs = _split(self.opts["outputs"]) or writes
        self._check_picklable()

    def _check_picklable(self) -> None:
        bad = {}
        for name, value in self.inputs.items():
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                bad[name] = f"{type(value).__name__} ({type(exc).__name__}: {exc})"
        if bad:
            listed = "; ".join(f"{k}: {v}" for k, v in bad.items())
            raise SerializationError(
                f"cannot send {', '.join(bad)} to the cluster: {listed}. Create them inside "
                "the cell, or choose what to send with --in a,b"
            )

    def submit(self) -> Job:
        resources = {
            k: self.opts[k]
            for k in ("cores", "nodes", "tasks", *RESOURCE_TEXT_OPTIONS)
            if self.opts[k] is not None
        }
        fn = cluster(self.opts["profile"], name=self.opts["name"] or "cell", **resources)(
            make_cell_runner()
        )
        return fn.submit(self.source, self.inputs, self.outputs)

    def assign(self, result: dict[str, Any]) -> None:
        self.user_ns.update(result["outputs"])
        for name, why in result["skipped"].items():
            print(
                f"clusterlab: {name} stayed on the cluster (cannot be pickled: {why})",
                file=sys.stderr,
            )


def run(line: str, source: str, user_ns: dict[str, Any]) -> Any:
    """Run the cell; returns the value of its last expression (shown as the cell's output)."""
    cell = CellRun(line, source, user_ns)
    job = cell.submit()
    if cell.opts["async_"]:
        user_ns["_cluster_job"] = job
        bound = "_cluster_job"
        if cell.opts["name"] and str(cell.opts["name"]).isidentifier():
            user_ns[cell.opts["name"]] = job  # --name NAME: the Job is also bound to NAME
            bound = f"{cell.opts['name']} (and _cluster_job)"

        def done(j: Any) -> None:
            if not j.cancelled() and j.exception() is None:
                cell.assign(j.result())

        job.add_done_callback(done)
        outs = ", ".join(cell.outputs) or "nothing"
        print(f"submitted job {job.id} as {bound}; {outs} will be assigned when it completes")
        return None
    result = wait_and_show(job)
    cell.assign(result)
    return result["value"]


def load(ipython: Any) -> None:
    """Register ``%%cluster`` (and friends) with IPython."""
    from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

    @magics_class
    class ClusterMagics(Magics):
        @cell_magic
        def cluster(self, line: str, cell: str) -> Any:
            """Run this cell on a cluster: %%cluster [PROFILE] [--cores N] ... [--async]"""
            from IPython.core.error import UsageError

            try:
                assert self.shell is not None
                return run(line, cell, self.shell.user_ns)
            except MagicUsageError as exc:
                raise UsageError(str(exc)) from None

        @line_magic
        def cluster_jobs(self, line: str) -> Any:
            """Show the live job monitor: %cluster_jobs [PROFILE]"""
            from .widgets import monitor

            return monitor(profile=line.strip() or None)

    ipython.register_magics(ClusterMagics)
