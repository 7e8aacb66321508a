"""ArrayJob: one ``map`` = one native array job (a few, past the scheduler's size limit).

Results, failures and progress stay per *item* whatever the chunking: ``arr[i]`` is a
:class:`Job` for item ``i``, even when several items share one scheduler task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from ...backends.base import WatchTarget
from ...common.efficiency import Efficiency, judge, request_hint, suggested
from ...common.errors import OurFramesHidden, SerializationError, fixed_dependencies_error
from ...common.states import JobState
from ...common.usage import ArrayUsage
from ...config.resources import Resources
from .job import Job
from .leanfuture import held_value, is_done, succeeded
from .plan import Plan
from .settle import Absence

if TYPE_CHECKING:
    from .host import JobHost


@dataclass
class ArrayPart:
    """One native array job: its tasks and which items each task runs."""

    array: ArrayJob
    native_id: str
    job_dir: str
    task_items: list[list[int]]  # task -> item indices (pool: each worker's first share)
    pool: bool = False  # workers pull items from a queue: any worker may run any item
    jobs: dict[int, Job] = field(default_factory=dict)  # item index -> its Job
    missing: dict[int, Absence] = field(default_factory=dict)  # item -> how long unseen

    @property
    def watch_key(self) -> str:
        return f"{self.array.id}/{self.native_id}"

    def new_item(
        self, host: JobHost, index: int, task: int, resources: Resources, after: list[str]
    ) -> Job:
        """The Job of item ``index``, run by ``task`` of this part (its id spelt by the
        backend: ``123_4`` on SLURM, ``123[4]`` on PBS)."""
        job = Job(
            host,
            f"{self.array.id}:{index}",
            f"{self.array.name}[{index}]",
            host.task_id(self.native_id, task),
            self.job_dir,
            resources,
            after=after,
            array_id=self.array.id,
            index=index,
            task=task,
            array_native=self.native_id,
        )
        self.jobs[index] = job
        return job


class ArrayJob:
    """The items of one ``map``, in input order."""

    def __init__(self, host: JobHost, array_id: str, name: str, size: int, plan: Plan) -> None:
        self.engine = host  # what runs it (engine-only: see .host.JobHost)
        self.id = array_id
        self.name = name
        self.size = size
        self._plan = plan
        self.profile = host.profile.name
        self.parts: list[ArrayPart] = []
        self.elements: list[Job] = []
        self.submitted_at = time.time()
        self.staged: Any = None  # working dir, env, inputs (core.transfer.staging): reruns
        self.python: list[str] | None = None  # the argv its items ran with, for reruns

    # -- sequence of items ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, index: int) -> Job:
        return self.elements[index]

    def __iter__(self) -> Iterator[Job]:
        return iter(self.elements)

    # -- waiting and results ----------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every item finished; False if ``timeout`` passed first."""
        if all(is_done(job) for job in self.elements):  # without locks: 100,000 items
            return True
        _, not_done = concurrent.futures.wait(self.elements, timeout=timeout)
        return not not_done

    def results(self, timeout: float | None = None, return_exceptions: bool = False) -> list[Any]:
        """Every item's value in input order; the first failure is raised (with its index)
        unless ``return_exceptions`` puts exceptions in the list instead."""
        __tracebackhide__ = True  # IPython shows the user's call and the error
        if not self.wait(timeout):
            raise TimeoutError(
                f"array {self.id}: not all {len(self)} items finished in {timeout} s"
            )
        out = []
        for i, job in enumerate(self.elements):
            value = _value_in_memory(job)
            if value is not None:
                out.append(value)
                continue
            if job.cancelled():
                exc: BaseException | None = concurrent.futures.CancelledError(
                    f"item {i} was cancelled: {job.reason}"
                )
            else:
                exc = job.exception()
            if exc is not None:
                if not return_exceptions:
                    if sys.version_info >= (3, 11):
                        exc.add_note(f"(item {i} of array {self.id}, {self.name})")
                    with OurFramesHidden(also=(BaseException,)):  # the item's own error
                        raise exc
                out.append(exc)
            else:
                out.append(job.result())
        return out

    def failed(self) -> dict[int, BaseException]:
        """Finished items that did not succeed: index -> their exception."""
        out: dict[int, BaseException] = {}
        for i, job in enumerate(self.elements):
            if succeeded(job):  # (without its lock: 100,000 items)
                continue
            if not job.done():
                continue
            if job.cancelled():
                out[i] = concurrent.futures.CancelledError(job.reason)
            elif (exc := job.exception()) is not None:
                out[i] = exc
        return out

    def rerun_failed(self) -> ArrayJob:
        """Resubmit only the failed items as a new array; their slots here are replaced,
        so ``results()`` then covers every item. Returns self."""
        self.engine.rerun(self, sorted(self.failed()))
        return self

    def cancel(self) -> bool:
        """Cancel every unfinished item (the whole native array)."""
        pending = [j for j in self.elements if not j.done()]
        if pending:
            targets = [WatchTarget(p.native_id, p.job_dir, True) for p in self.parts]
            self.engine.cancel(pending, targets)
        return bool(pending)

    def done(self) -> bool:
        return all(j.done() for j in self.elements)

    def cleanup(self) -> None:
        """Delete the array's directories on the cluster."""
        self.engine.cleanup(self)

    # -- state ------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """How many items are in each state."""
        return dict(Counter(j.state.value for j in self.elements))

    @property
    def state(self) -> JobState:
        """RUNNING while any item runs; once all finished, COMPLETED only if all did."""
        states = {j.state for j in self.elements}
        if not states:
            return JobState.COMPLETED
        if JobState.RUNNING in states:
            return JobState.RUNNING
        if all(s.finished for s in states):
            if states == {JobState.COMPLETED}:
                return JobState.COMPLETED
            return JobState.CANCELLED if states == {JobState.CANCELLED} else JobState.FAILED
        return JobState.PENDING

    @property
    def reason(self) -> str:
        """A one-line summary: '3 running, 5 pending, 1 failed'."""
        counts = self.counts()
        return ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))

    @property
    def usage(self) -> ArrayUsage | None:
        """What its items used: the most and the mean of their elapsed and CPU seconds
        and peak memory (``ArrayUsage(items, max, mean)``), over the items that reported
        one; None before any did."""
        return ArrayUsage.of([j.usage for j in self.elements])

    @property
    def usage_hint(self) -> str:
        """A sentence when its memory (or cores) request was far from what its items used
        ('' otherwise). Time is not compared: its limit holds for a whole task."""
        if not self.elements:
            return ""
        r = self.elements[0].resources
        return request_hint(self.usage, r.memory_mb, r.time_s, r.cores)

    def efficiency(self) -> Efficiency:
        """:meth:`Job.efficiency` over all its items that reported a usage: ``.cpu`` and
        ``.memory`` of the largest item, ``.median`` of the median one, ``.advice``."""
        if not self.elements:
            return Efficiency(advice="the array has no items")
        r = self.elements[0].resources
        return judge([j.usage for j in self.elements if j.usage], r.memory_mb, r.time_s, r.cores)

    def suggested_resources(self) -> dict[str, Any]:
        """The resources to pass to ``.options()`` for the next map like this one."""
        return suggested(self.elements[0].resources, self.efficiency()) if self.elements else {}

    @property
    def plan_record(self) -> Plan:
        """The plan itself (the ledger stores it; :attr:`plan` is its sentence)."""
        return self._plan

    @property
    def chunksize(self) -> int:
        """Items per task (a pool: per worker's first share)."""
        return self._plan.chunksize

    @property
    def plan(self) -> str:
        """How the items were cut into tasks: '1,000 items in 16 tasks of ~63'."""
        return self._plan.describe()

    def block_of(self, index: int) -> int:
        """Which ``items/N.pkl`` of its part holds item ``index``."""
        job = self.elements[index]
        for part in self.parts:
            if part.job_dir == job.job_dir:
                for block, indices in enumerate(part.task_items):
                    if index in indices:
                        return block
        return job.task

    def after(self, *jobs: Any) -> NoReturn:
        raise fixed_dependencies_error(f"array {self.id}", self.name)

    def __await__(self) -> Generator[Any, None, list[Any]]:
        async def gather() -> list[Any]:
            return list(await asyncio.gather(*(asyncio.wrap_future(j) for j in self.elements)))

        return gather().__await__()

    def __reduce__(self) -> NoReturn:
        raise SerializationError(
            f"array {self.id} was passed inside another object: pass it directly as an "
            "argument of submit() (the remote side gets the list of its results)"
        )

    def _repr_html_(self) -> str:
        from html import escape

        from ...common.style import card, progress_bar

        return card(
            f"ArrayJob <code>{escape(self.id)}</code> {escape(self.name)}",
            self.state.value,
            [
                ("profile", escape(self.profile)),
                ("progress", progress_bar(self.counts(), len(self))),
                ("plan", escape(self.plan)),
                ("native ids", escape(", ".join(p.native_id for p in self.parts))),
                ("usage", escape(str(self.usage or ""))),
                ("hint", escape(self.usage_hint)),
            ],
        )

    def __repr__(self) -> str:
        return f"<ArrayJob {self.id} {self.name} on {self.profile}: {self.plan}; {self.reason}>"


def _value_in_memory(job: Job) -> Any:
    """An item's value when it completed and the value is held here, else None (then the
    caller takes the ordinary path, which also covers a value that is None)."""
    if not succeeded(job):
        return None
    value = held_value(job)
    return None if job.result_unread else value


def as_completed(jobs: ArrayJob | list[Job], timeout: float | None = None) -> Iterator[Job]:
    """Items (or jobs) as they finish, like ``concurrent.futures.as_completed``."""
    done: Iterator[Any] = concurrent.futures.as_completed(list(jobs), timeout=timeout)
    return done
