"""The job commands of the ``clusterlab`` CLI: jobs, status, logs, cancel, result.

They go through the same ledger and reattach path as ``cl.jobs()`` / ``cl.job(id)``, so a
terminal sees what a notebook sees.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..common.errors import ClusterlabError, RemoteTraceback
from ..common.states import JobState
from ..common.style import elapsed_text
from ..core.ledger import store as ledger
from ..core.ledger.store import JobRecord
from ..core.model.array import ArrayJob
from ..core.model.job import Job
from ..jobs import job as find_job
from ..jobs import jobs as list_jobs

TIMEOUT_EXIT = 124
"""``clusterlab result --timeout``: the job is still running (the code of coreutils timeout)."""

STATES = [s.value for s in JobState]
_UNSUCCESSFUL = ("FAILED", "CANCELLED", "TIMEOUT", "LOST")
_NOT_COMPLETED = ("RUNNING", "PENDING", *_UNSUCCESSFUL)  # in the order a progress line lists


def human_duration(seconds: float | None) -> str:
    """The widgets' duration format, with '-' for a job that has not started."""
    return elapsed_text(seconds, missing="-")


def array_progress(counts: dict[str, int], size: int) -> str:
    """'12/200 done, 3 failed': how far an array got, what is still open and what went wrong."""
    parts = [f"{counts.get('COMPLETED', 0)}/{size} done"]
    parts += [f"{counts[s]} {s.lower()}" for s in _NOT_COMPLETED if counts.get(s)]
    return ", ".join(parts)


def _clip(text: str, width: int) -> str:
    """One table cell on one line; long reasons keep their start, which says the most."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _table_row(rec: JobRecord) -> list[str]:
    detail = array_progress(rec.counts, rec.size) if rec.kind == "array" else rec.reason
    elapsed = human_duration(rec.elapsed)
    return [rec.id, _clip(rec.name, 30), rec.profile, rec.state, elapsed, _clip(detail, 70)]


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[-1] = 0
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def cmd_jobs(args: argparse.Namespace) -> int:
    """The ledger newest first: a table to scan, or JSON rows for scripts."""
    rows = list_jobs(profile=args.profile, state=args.state)[: args.limit]
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        filtered = args.profile or args.state
        print("no jobs match" if filtered else f"no jobs yet (the ledger is {ledger.path()})")
        return 0
    header = ["ID", "NAME", "PROFILE", "STATE", "ELAPSED", "REASON"]
    print(format_table([header, *(_table_row(r) for r in rows)]))
    return 0


def resolve(job_id: str) -> Job | ArrayJob:
    """``cl.job(id)``, with a malformed or out-of-range item id reported as clearly."""
    base, sep, index = job_id.partition(":")
    if not sep:
        return find_job(job_id)
    target = find_job(base)
    if not isinstance(target, ArrayJob):
        raise ClusterlabError(f"{base} is a single job, not an array: use the id {base} alone")
    if not index.isdigit() or int(index) >= len(target):
        items = f"{base}:0 to {base}:{len(target) - 1}" if len(target) else "none"
        raise ClusterlabError(f"{job_id!r} is not an item of array {base} (items: {items})")
    return target[int(index)]


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _show(value: Any, width: int = 300) -> str:
    """A field as one line; a long one (an array's item map) is clipped with a pointer."""
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    if len(text) <= width:
        return text
    return f"{text[:width]}... ({len(text)} chars; `clusterlab jobs --json` has all)"


def _print_fields(fields: dict[str, Any]) -> None:
    width = max(len(k) for k in fields) + 1
    for key, value in fields.items():
        print(f"{key + ':':<{width}} {_show(value)}")


def _record_fields(rec: JobRecord) -> dict[str, Any]:
    """Every field of the ledger row, times made readable and the elapsed time added."""
    fields = dataclasses.asdict(rec)
    fields.pop("usage")  # shown as a sentence after the elapsed time
    for key in ("submitted", "started", "ended"):
        fields[key] = _when(fields[key])
    fields["elapsed"] = human_duration(rec.elapsed)
    fields.update(_usage_fields(rec.usage, rec.usage_hint))
    return fields


def _usage_fields(usage: object, hint: str) -> dict[str, Any]:
    """What it used ('-' until known) and, when the request was far off, a hint."""
    return {"usage": str(usage or "-"), **({"hint": hint} if hint else {})}


def _array_fields(rec: JobRecord) -> dict[str, Any]:
    """Per-state counts of an array's items, and the first few that did not succeed."""
    items = ledger.items(rec.id)
    counts = Counter(item[1] for item in items)
    fields: dict[str, Any] = {
        "progress": array_progress(dict(counts), rec.size),
        **{f"items {s}": counts[s] for s in STATES if counts.get(s)},
    }
    bad = [(i, s, r) for i, s, r, *_ in items if s in _UNSUCCESSFUL]
    for i, state, reason in bad[:10]:
        fields[f"{rec.id}:{i}"] = f"{state} {reason}".strip()
    if len(bad) > 10:
        fields["..."] = f"{len(bad) - 10} more; `clusterlab status {rec.id}:INDEX` for one"
    return fields


def _item_fields(item: Job) -> dict[str, Any]:
    """An array item has no ledger row of its own: show what its reattached Job knows."""
    elapsed = (item.ended_at or time.time()) - item.started_at if item.started_at else None
    return {
        "id": item.id,
        "kind": "array item",
        "array": item.array_id,
        "index": item.index,
        "task": item.task,
        "profile": item.profile,
        "name": item.name,
        "native_id": item.native_id,
        "job_dir": item.job_dir,
        "state": item.state.value,
        "reason": item.reason,
        "submitted": _when(item.submitted_at),
        "started": _when(item.started_at),
        "ended": _when(item.ended_at),
        "elapsed": human_duration(elapsed),
        **_usage_fields(item.usage, item.usage_hint),
        "resources": item.resources.to_dict(),
        "after": item.after_ids,
    }


def cmd_status(args: argparse.Namespace) -> int:
    """Everything known about one job, array or array item, from the ledger."""
    if ":" in args.job:
        item = resolve(args.job)
        if isinstance(item, Job):  # always: "ID:INDEX" names one item
            _print_fields(_item_fields(item))
        return 0
    rec = ledger.get(args.job)
    if rec is None:
        raise ClusterlabError(
            f"no job {args.job!r} in the ledger ({ledger.path()}); `clusterlab jobs` lists them"
        )
    fields = _record_fields(rec)
    if rec.kind == "array":
        fields.update(_array_fields(rec))
    _print_fields(fields)
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _follow(chunks: Iterator[str]) -> int:
    """Print new output as the job writes it (read by its watcher) until it ends."""
    try:
        for text in chunks:
            _write(text)
    except KeyboardInterrupt:
        return 130  # stop following; the job itself is not touched
    return 0


def _not_submitted(target: Job | ArrayJob) -> str:
    """Why a job never reached the scheduler ('' if it did): it has no files anywhere, so
    there is nothing to read on its host, which may not even be reachable."""
    prefix = "not submitted: "
    if isinstance(target, Job) and target.done() and target.reason.startswith(prefix):
        return target.reason[len(prefix) :]
    return ""


def cmd_logs(args: argparse.Namespace) -> int:
    """A job's stdout or stderr; with -f, follow it until the job ends."""
    target = resolve(args.job)
    if isinstance(target, ArrayJob):
        raise ClusterlabError(
            f"{target.id} is an array of {len(target)} items, each with its own log: "
            f"ask for one item, e.g. `clusterlab logs {target.id}:0`"
        )
    if why := _not_submitted(target):
        what = f"{target.id} has no output: it was not submitted"
        print(f"clusterlab: {what} ({why})", file=sys.stderr)
        return 1
    read = target.stderr if args.stderr else target.stdout
    if args.follow:
        return _follow(read(follow=True, rank=args.rank))
    _write(read(rank=args.rank))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel jobs or whole arrays; every id is checked before anything is cancelled."""
    targets = [resolve(job_id) for job_id in dict.fromkeys(args.jobs)]
    for target in targets:
        if not target.cancel():
            print(f"{target.id}: already {target.state}, nothing to cancel")
        elif isinstance(target, ArrayJob):
            print(f"{target.id}: {target.state} ({array_progress(target.counts(), len(target))})")
        else:
            print(f"{target.id}: {target.state}")
    return 0


def _print_failure(job_id: str, exc: BaseException) -> None:
    """The remote traceback first (where the bug is), then which job failed and how."""
    cause = exc.__cause__
    if isinstance(cause, RemoteTraceback):
        sys.stderr.write(cause.tb if cause.tb.endswith("\n") else cause.tb + "\n")
    for note in getattr(exc, "__notes__", []):
        print(note, file=sys.stderr)
    print(f"clusterlab: {job_id} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def cmd_result(args: argparse.Namespace) -> int:
    """Wait for a job (or every item of an array) and print repr() of its value."""
    target = resolve(args.job)
    try:
        if isinstance(target, ArrayJob):
            value: Any = target.results(timeout=args.timeout)
        else:
            value = target.result(timeout=args.timeout)
    except (TimeoutError, concurrent.futures.TimeoutError):  # distinct types before 3.11
        print(
            f"clusterlab: {target.id} did not finish within {args.timeout:g} s "
            f"(it is {target.state} and keeps running)",
            file=sys.stderr,
        )
        return TIMEOUT_EXIT
    except concurrent.futures.CancelledError:
        print(f"clusterlab: {target.id} was cancelled: {target.reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # stop waiting; the job itself is not touched
    except Exception as exc:  # the job's own failure, whatever its type
        if why := _not_submitted(target):
            print(f"clusterlab: {target.id} was not submitted: {why}", file=sys.stderr)
        else:
            _print_failure(target.id, exc)
        return 1
    print(repr(value))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more seconds")
    return value


def add_job_commands(sub: Any) -> None:
    """jobs, status, logs, cancel, result: next to `profile`, as in ARCHITECTURE.md."""
    p = sub.add_parser("jobs", help="jobs submitted from this machine, newest first")
    p.add_argument("--profile", metavar="P", help="only jobs of this profile")
    p.add_argument(
        "--state",
        metavar="S",
        nargs="+",
        action="extend",
        type=str.upper,
        choices=STATES,
        help=f"only jobs in these states ({', '.join(STATES)}); may be repeated",
    )
    p.add_argument("--limit", metavar="N", type=_positive_int, help="show the newest N only")
    p.add_argument("--json", action="store_true", help="print the ledger rows as JSON")
    p.set_defaults(func=cmd_jobs)
    job_help = "a job or array id from `clusterlab jobs`; ARRAYID:INDEX is one array item"
    p = sub.add_parser("status", help="every field of one job or array, with item counts")
    p.add_argument("job", help=job_help)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("logs", help="print a job's stdout (or stderr)")
    p.add_argument("job", help=job_help)
    p.add_argument("--stderr", action="store_true", help="print stderr instead of stdout")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until it ends"
    )
    p.add_argument(
        "--rank", type=int, default=None, help="a job of several tasks: this rank's (default 0)"
    )
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("cancel", help="cancel jobs or whole arrays, pending or running")
    p.add_argument("jobs", nargs="+", metavar="JOB", help=job_help)
    p.set_defaults(func=cmd_cancel)
    p = sub.add_parser(
        "result",
        help="wait for a job and print repr() of its value",
        description="Exit 0 with the value, 1 if the job failed (remote traceback on "
        f"stderr), {TIMEOUT_EXIT} if --timeout passed first (the job keeps running).",
    )
    p.add_argument("job", help=job_help)
    p.add_argument("--timeout", metavar="SECONDS", type=_seconds, help="wait at most this long")
    p.set_defaults(func=cmd_result)
