"""The Job and ArrayJob objects alive in this process, by id, so ``cl.job(id)`` returns
the object you already hold instead of a second copy watching the same job."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .array import ArrayJob
    from .job import Job

live: dict[str, Job | ArrayJob] = {}
