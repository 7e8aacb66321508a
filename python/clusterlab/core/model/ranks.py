"""The ranks of a multi-task job (``tasks=N``) as users read them: every rank's value
(``job.task_results()``) and each rank's output (``job.stdout(rank=1)``).

The runner leaves rank R's outcome in ``ranks/R.pkl`` and its output in
``ranks/R.stdout``/``ranks/R.stderr``; rank 0 writes to the job's own log files, and the
job's ``result.pkl`` is rank 0's value (or the failing rank's exception), so a job of
several tasks is collected, watched and shown like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...common import jobdir
from ...common.errors import ClusterlabError
from ..transfer.payload import load_result

if TYPE_CHECKING:
    from .host import JobHost
    from .job import Job


def rank_count(job: Job) -> int:
    """How many ranks ran the function (a map item: how many ran it): 1 for a job of one
    task or ``launcher='none'`` (the function ran once and started its own tasks)."""
    r = job.resources
    return 1 if r.launcher == "none" else r.task_count


def check_rank(job: Job, rank: int) -> None:
    n = rank_count(job)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < n:
        raise ClusterlabError(
            f"rank={rank!r}: job {job.id} ran {n} task{'s' if n != 1 else ''}, ranks 0 to "
            f"{n - 1}; ask for one of those"
        )


def log_name(job: Job, stream: str, rank: int | None) -> str | None:
    """The log file of ``rank`` relative to the job dir, None for the job's own."""
    if rank is None:
        return None
    check_rank(job, rank)
    return jobdir.rank_log(stream, rank, _index(job)) if rank else None


def _index(job: Job) -> int | None:
    return job.index if job.array_id else None


def task_results(host: JobHost, job: Job, first: Any) -> list[Any]:
    """Every rank's value in rank order, ``first`` (rank 0's, already fetched) included:
    one read for the others. A rank's exception is raised (the job then failed)."""
    n = rank_count(job)
    paths = [f"{job.job_dir}/{jobdir.rank_result(rank, _index(job))}" for rank in range(1, n)]
    files = host.transport.read_files(paths) if paths else {}
    out = [first]
    for rank, path in enumerate(paths, start=1):
        data = files.get(path)
        if data is None:
            raise ClusterlabError(
                f"rank {rank} of job {job.id} left no result at {path} (cleaned up?): run "
                "the job again to get every rank's value"
            )
        ok, value = load_result(data)
        if not ok:
            raise value
        out.append(value)
    return out
