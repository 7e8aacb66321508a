"""A job's output as users read it: ``job.stdout()``, ``arr[i].stderr()``.

A single job owns its log files. The items of an array task (a chunk, or the items one
pool worker ran) share the task's files, so the runner writes, in each item's status
lines, where that item's output starts and ends in them. Here those offsets are found
(kept from the poll that saw the item finish, else read from the task's status files now)
and only that part of the file is read: one item's output, not the whole task's, and not
the whole log over SSH for one item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...common import jobdir
from ...common.jobdir import StatusInfo, parse_status

if TYPE_CHECKING:
    from .host import JobHost
    from .job import Job

Span = tuple[int, int | None]
"""Where an item's output lies in its task's log file: from byte ``start`` to ``end``, or
to the end of the file while the item runs."""


def read_output(host: JobHost, job: Job, stream: str) -> str:
    """``stream`` (stdout or stderr) of ``job``: what it printed so far ('' before that)."""
    if job.done() and not job.native_id:  # never reached a scheduler: no files anywhere
        return ""  # (and its host may be unreachable: not asked)
    if not job.array_id:
        return host.read_log(job, jobdir.log_file(stream))
    task, span = job.task, job.item_logs.get(stream)
    if span is None or span[1] is None:  # not known to have finished: ask its task now
        found = locate(host, job, stream)
        if found is None:
            return ""  # its task has not started it yet
        task, span = found
    if span is None:  # it started, but its runner recorded no offsets: the whole log
        return host.read_log(job, jobdir.log_file(stream, task))
    path = f"{job.job_dir}/{jobdir.log_file(stream, task)}"
    return (host.transport.read_range(path, *span) or b"").decode("utf-8", "replace")


def read_tail(
    host: JobHost, job: Job, stream: str, limit: int, before: int | None = None, whole: bool = False
) -> tuple[str, int, int]:
    """At most ``limit`` bytes of ``stream`` ending at byte ``before`` (None: its end),
    read as a byte range: ``(text, where it starts, how long the stream is)``. The panel
    shows a log's end, and a 10 GB stdout must not travel (or sit in the kernel) for it;
    an earlier page is asked for with ``before`` = the start of the one shown.
    ``whole``: ``stream`` is a file of its own in the job dir (a rank's log), not shared."""
    if job.done() and not job.native_id:  # never reached a scheduler: no files anywhere
        return "", 0, 0
    task: int | None = None
    span: Span | None = None
    if job.array_id and not whole:
        task, span = job.task, job.item_logs.get(stream)
        if span is None or span[1] is None:
            found = locate(host, job, stream)
            if found is None:
                return "", 0, 0
            task, span = found
    path = f"{job.job_dir}/{jobdir.log_file(stream, task)}"
    lo, hi = span if span is not None else (0, None)
    if hi is None:  # to the end of the file as it is now: its size first
        got = host.transport.read_ranges([(path, 0, 0)])[0]
        if got is None:
            return "", 0, 0
        hi = got[0]
    length = max(0, hi - lo)
    end = length if before is None else max(0, min(before, length))
    start = max(0, end - limit)
    data = host.transport.read_range(path, lo + start, lo + end) or b""
    if start > 0:  # begin at a character, not inside one
        cut = 0
        while cut < min(3, len(data)) and 0x80 <= data[cut] < 0xC0:
            cut += 1
        data, start = data[cut:], start + cut
    return data.decode("utf-8", "replace"), start, length


def locate(host: JobHost, job: Job, stream: str) -> tuple[int, Span | None] | None:
    """Which task's log holds the item's output and where: ``(task, span)``, span None when
    the runner recorded no offsets (a runner from before they existed, or logs that are no
    files: then the task's whole log is shown); None if no task started the item.
    One read of the task's status file (of every worker's, for a pool item)."""
    tasks = _tasks(host, job)
    paths = {t: f"{job.job_dir}/{jobdir.status_file(t)}" for t in tasks}
    files = host.transport.read_files(list(paths.values()))
    statuses = {t: parse_status(files.get(p)) for t, p in paths.items()}
    return pick(statuses, job.index, stream)


def pick(
    statuses: dict[int, StatusInfo], index: int, stream: str
) -> tuple[int, Span | None] | None:
    """The run of item ``index`` whose output to show: the one that finished with both
    offsets, else the latest attempt that started (a pool retries an item once, on
    another worker). A line that only says the item was given up has no output."""
    best: tuple[tuple[bool, int, float], int, StatusInfo] | None = None
    for task, status in statuses.items():
        item = status.items.get(index)
        if item is None or (item.started is None and not item.logs):
            continue
        span = item.logs.get(stream)
        rank = (span is not None and span[1] is not None, item.attempt, item.started or 0.0)
        if best is None or rank > best[0]:
            best = (rank, task, item)
    if best is None:
        return None
    _, task, item = best
    return task, item.logs.get(stream)


def _tasks(host: JobHost, job: Job) -> list[int]:
    """The tasks that may have run ``job``: its own, or every worker of its pool."""
    array = host.arrays.get(job.array_id)
    for part in array.parts if array is not None else []:
        if part.pool and part.jobs.get(job.index) is job:
            return list(range(len(part.task_items)))
    return [job.task]
