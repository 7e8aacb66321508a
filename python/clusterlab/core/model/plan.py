"""How a ``map`` is cut into scheduler tasks: pure rules, unit-tested, shown to the user.

A scheduler pays a launch cost per task (SLURM: about a second of prolog, environment and
a Python start), so one task per item is slow for small items and floods the queue. The
automatic plan runs ONE wave: as many tasks as can run at once (the array's
``max_concurrent``, else the free capacity the scheduler reports), items spread evenly.
For items of equal length one wave is also the best makespan; for uneven items, the pool
mode (``workers=K``) lets K long-lived workers pull items from a queue instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_PARALLELISM = 16
"""Tasks to use when neither ``max_concurrent`` nor the scheduler says how many fit."""


@dataclass(frozen=True)
class Plan:
    """``items`` split over ``tasks`` tasks; ``workers > 0`` means pool mode."""

    items: int
    tasks: int
    chunksize: int  # items per task (static plan) or per worker's initial share (pool)
    workers: int = 0
    automatic: bool = False

    @property
    def pool(self) -> bool:
        return self.workers > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def shares(self) -> list[range]:
        """Contiguous ranges of item indices, one per task (or per worker's first share);
        a fixed ``chunksize`` cuts exactly, otherwise sizes differ by at most one."""
        if not self.automatic and not self.pool:
            return [
                range(start, min(start + self.chunksize, self.items))
                for start in range(0, self.items, self.chunksize)
            ]
        size, extra = divmod(self.items, self.tasks) if self.tasks else (0, 0)
        out, start = [], 0
        for t in range(self.tasks):
            end = start + size + (1 if t < extra else 0)
            out.append(range(start, end))
            start = end
        return out

    def describe(self) -> str:
        """'1,000 items in 16 tasks of ~63' (users read it in reprs and the panel)."""
        if not self.items:
            return "no items"
        if self.pool:
            return f"{self.items:,} items pulled by {self.tasks} workers"
        size = str(self.chunksize)
        if self.automatic and self.items % self.tasks:
            size = f"~{self.chunksize}"
        noun = "task" if self.tasks == 1 else "tasks"
        return f"{self.items:,} items in {self.tasks} {noun} of {size}"


def check_options(chunksize: int | None, workers: int | None, max_concurrent: int) -> None:
    """The user's options, checked before anything is pickled or sent."""
    if chunksize is not None and workers is not None:
        raise ValueError(
            "chunksize= and workers= exclude each other: chunksize fixes which items share "
            "a task, workers= lets K workers pull items as they go. Pass one of them."
        )
    if chunksize is not None and chunksize < 1:
        raise ValueError("chunksize must be at least 1 (items per task)")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1 (worker tasks pulling items)")
    if max_concurrent < 0:
        raise ValueError("max_concurrent must be 0 (no limit) or more")


def make_plan(
    items: int,
    *,
    chunksize: int | None = None,
    workers: int | None = None,
    max_concurrent: int = 0,
    capacity: int = 0,
    max_tasks: int = 0,
) -> Plan:
    """The plan for ``items`` items.

    ``chunksize`` (fixed items per task) and ``workers`` (pool of K workers) are the
    user's overrides and exclude each other; otherwise the plan uses ``max_concurrent`` or
    the scheduler's ``capacity`` (tasks that fit at once) to run a single wave, in one
    native array (at most ``max_tasks`` tasks).
    """
    check_options(chunksize, workers, max_concurrent)
    if items == 0:
        return Plan(0, 0, chunksize or 1, workers or 0, chunksize is None and workers is None)
    if workers is not None:
        k = min(workers, items)
        return Plan(items, k, math.ceil(items / k), k)
    if chunksize is not None:
        return Plan(items, math.ceil(items / chunksize), chunksize)
    parallel = max_concurrent or capacity or DEFAULT_PARALLELISM
    if max_tasks:
        parallel = min(parallel, max_tasks)  # one native array, not several
    tasks = max(1, min(items, parallel))
    return Plan(items, tasks, math.ceil(items / tasks), automatic=True)
