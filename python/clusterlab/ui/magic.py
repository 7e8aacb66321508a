"""``%%cluster``: run a whole cell on a cluster, as if it ran here.

The names the cell reads are shipped (found by static analysis, or ``--in``), the names it
binds come back and the names it deletes are deleted (or only those of ``--out``), prints
appear in the cell, and a remote exception shows a traceback whose frames point at the
cell's own lines as the editor numbers them (the magic line is line 1), with their source.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import linecache
import shlex
import sys
from collections.abc import Callable
from typing import Any

import cloudpickle

from ..api import cluster, wait_and_show
from ..common.errors import ClusterlabError, OurFramesHidden, SerializationError
from ..common.states import JobState
from ..core.environment import codescan, packages
from ..core.model.job import Job
from .cellvars import analyze

_CELLS = itertools.count(1)  # names cells run outside IPython: <cluster-cell-N>
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

    class CellResult(dict):  # type: ignore[type-arg]
        """What a cell gave: ``outputs`` (the names it assigned), ``skipped``, ``value``,
        ``missing``. A mapping for the magic; shown (panel, monitor, ``cl.job(ID).result()``)
        as the names the cell assigned, which is what the user asked for, not these keys.
        Defined here so it travels by value: the cluster and this kernel need no import."""

        def __repr__(self) -> str:
            import reprlib

            shorter = reprlib.Repr()
            shorter.maxstring = shorter.maxother = 200
            lines = [f"{name} = {shorter.repr(v)}" for name, v in self["outputs"].items()]
            lines += [f"{n} stayed on the cluster ({why})" for n, why in self["skipped"].items()]
            if self["value"] is not None:
                lines.append(f"(the cell's last line gave {shorter.repr(self['value'])})")
            return "\n".join(lines) or "(the cell assigned no names)"

        def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
            printer.text(repr(self))  # IPython would print the dict's items instead

    def run_cell(
        code: str, inputs: dict[str, Any], outputs: list[str], filename: str, text: str
    ) -> Any:
        """``code`` is the cell's body on the lines the editor shows it (blank lines stand in
        for the magic line); ``text``, the whole cell, is what its traceback lines quote."""
        __tracebackhide__ = True  # the runner shows the cell's frames, not this
        import ast as ast_
        import linecache

        import cloudpickle as cp

        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        tree = ast_.parse(code, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast_.Expr):
            last = ast_.Expression(tree.body[-1].value)
            tree.body.pop()
        ns: dict[str, Any] = {"__name__": "__main__", **inputs}
        exec(compile(tree, filename, "exec"), ns)  # noqa: S102 - running the user's cell is the point
        value = eval(compile(last, filename, "eval"), ns) if last else None  # noqa: S307
        back: dict[str, Any] = {}
        skipped: dict[str, str] = {}
        missing = [name for name in outputs if name not in ns]  # never bound, or deleted
        for name in outputs:
            if name not in ns:
                continue
            try:
                cp.dumps(ns[name])
            except Exception as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}"
                continue
            back[name] = ns[name]
        return CellResult(outputs=back, skipped=skipped, value=value, missing=missing)

    return run_cell


def register_cell(line: str, body: str, shell: Any = None) -> str:
    """Put the cell as the editor shows it (magic line first) in ``linecache`` and return its
    name, so a traceback quotes its lines. In IPython that is the name IPython gave the cell,
    so its frames read "Cell In[N], line L"; elsewhere the cell gets a name of its own."""
    text = f"%%cluster {line}".rstrip() + "\n" + body
    name = _ipython_cell_name(shell) or f"<cluster-cell-{next(_CELLS)}>"
    linecache.cache[name] = (len(text), None, [f"{t}\n" for t in text.splitlines()], name)
    return name


def _ipython_cell_name(shell: Any) -> str | None:
    """The name of the code of the cell that runs this magic: the nearest calling frame IPython
    names as a cell, when that cell is one line of code (IPython turns a ``%%cluster`` cell
    into one ``run_cell_magic`` call), so replacing its cached text hides nothing else."""
    label = getattr(getattr(shell, "compile", None), "format_code_name", None)
    frame = inspect.currentframe()
    while label is not None and frame is not None:
        name = frame.f_code.co_filename
        if label(name):
            return name if len(linecache.getlines(name)) == 1 else None
        frame = frame.f_back
    return None


def parse_line(line: str) -> dict[str, Any]:
    """The magic's options; a mistake raises MagicUsageError showing the usage."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="%%cluster",
        add_help=False,
        exit_on_error=False,
        usage="%%cluster [PROFILE] [--cores N] [--memory M] [--time T] [--gpus G|TYPE:G] "
        "[--nodes N] [--tasks N] [--partition P] [--account A] [--qos Q] [--constraint C] "
        "[--name NAME] [--async] [--in a,b] [--out x,y] [--workdir DIR] [--env NAME=VALUE] "
        "[--environment existing|sync] [--files a.csv,b.csv] [--outputs '*.png'] "
        "[--retries N] [--requeue] [--max-requeues N]",
    )
    parser.add_argument("profile", nargs="?")
    for opt in ("cores", "nodes", "tasks"):
        parser.add_argument(f"--{opt}", type=int)
    for opt in (*RESOURCE_TEXT_OPTIONS, "name"):
        parser.add_argument(f"--{opt}")
    parser.add_argument("--async", dest="async_", action="store_true")
    parser.add_argument("--in", dest="inputs")
    parser.add_argument("--out", dest="outputs")
    # where and how the cell runs (names the cell reads/binds are --in/--out, files these)
    parser.add_argument("--workdir")
    parser.add_argument("--env", action="append", dest="env")
    parser.add_argument("--environment")
    parser.add_argument("--files", dest="upload")
    parser.add_argument("--outputs", dest="download")
    # run again after failures outside the cell / preemption (docs/preemption.md)
    parser.add_argument("--retries", type=int)
    parser.add_argument("--requeue", action="store_true")
    parser.add_argument("--max-requeues", dest="max_requeues", type=int)
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

    def __init__(self, line: str, source: str, user_ns: dict[str, Any], filename: str = "") -> None:
        self.opts = parse_line(line)
        self.source = source
        self.user_ns = user_ns
        self.filename = filename or register_cell(line, source)
        self.text = "".join(linecache.getlines(self.filename))
        # The body on the editor's lines: the magic line is line 1, the body starts on 2.
        self.code = "\n" + source
        ast.parse(self.code, self.filename)  # a syntax error fails here, locally, at once
        reads, writes, deletes = analyze(source)
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
        wanted_out = _split(self.opts["outputs"])
        self.outputs = wanted_out or writes
        # `del x` in the cell deletes x here too, as running the cell here would (--out
        # lists every name the cell may change, deletions included).
        self.deletes = [n for n in deletes if wanted_out is None or n in wanted_out]
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
        run: dict[str, Any] = {
            "workdir": self.opts["workdir"],
            "env": self.opts["env"],
            "environment": self.opts["environment"],
            "files": _split(self.opts["upload"]),
            "outputs": _split(self.opts["download"]),
            "requeue": self.opts.get("requeue"),
        }
        run = {k: v for k, v in run.items() if v}
        # The cell's variables are assigned here, so they come back whatever their size
        # (a result_limit would leave them on the cluster as a RemoteResult, unassignable).
        run["result_limit"] = 0
        for count in ("retries", "max_requeues"):  # 0 is a value here
            if self.opts.get(count) is not None:
                run[count] = self.opts[count]
        fn = cluster(self.opts["profile"], name=self.opts["name"] or "cell", **resources, **run)(
            make_cell_runner()
        )
        names = [*self.outputs, *(n for n in self.deletes if n not in self.outputs)]
        # the cell's imports, read from its text (the sync lock and preflight's table)
        packages.note_shipped(codescan.source_needs(self.code), "the cell")
        return fn.submit(self.code, self.inputs, names, self.filename, self.text)

    def assign(self, result: dict[str, Any]) -> None:
        self.user_ns.update(result["outputs"])
        for name in self.deletes:
            if name in result.get("missing", ()):
                self.user_ns.pop(name, None)
        for name, why in result["skipped"].items():
            print(
                f"clusterlab: {name} stayed on the cluster (cannot be pickled: {why})",
                file=sys.stderr,
            )


def run(line: str, source: str, user_ns: dict[str, Any], filename: str = "") -> Any:
    """Run the cell; returns the value of its last expression (shown as the cell's output).

    ``filename``: where :func:`register_cell` put the cell's text (registered here if not).
    """
    __tracebackhide__ = True  # IPython shows the cell and the job's error only
    cell = CellRun(line, source, user_ns, filename)
    job = cell.submit()
    if job.state == JobState.FAILED:  # not submitted (host unreachable...): say so now
        return job.result()
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

            __tracebackhide__ = True  # IPython shows the cell and the job's error
            assert self.shell is not None
            try:
                # A syntax error shows the cell's own line, not the frames that parsed it;
                # a job's error or a sentence the user can act on, none of our frames.
                name = register_cell(line, cell, self.shell)
                with OurFramesHidden(also=(SyntaxError,)):
                    return run(line, cell, self.shell.user_ns, name)
            except MagicUsageError as exc:
                raise UsageError(str(exc)) from None

        @line_magic
        def cluster_jobs(self, line: str) -> Any:
            """Show the live job monitor: %cluster_jobs [PROFILE]"""
            from .widgets import monitor

            return monitor(profile=line.strip() or None)

    ipython.register_magics(ClusterMagics)
