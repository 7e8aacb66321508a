"""The Job and ArrayJob objects alive in this process, by id, so ``cl.job(id)`` returns
the object you already hold instead of a second copy watching the same job.

Weak: an object nobody holds any more (and no watcher still follows) goes away with its
result, as a ``concurrent.futures`` future does; ``cl.job(id)`` rebuilds it from the
ledger if asked again."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .array import ArrayJob
    from .job import Job

live: weakref.WeakValueDictionary[str, Job | ArrayJob] = weakref.WeakValueDictionary()

#: Ids of jobs and arrays this process reattached only to watch them (the lab panel does,
#: for active jobs whose kernel is gone, so their endings reach it): when they complete,
#: their values stay on the cluster instead of being downloaded and unpickled here, where
#: nobody asked for them (``result()`` reads one when asked, as after ``forget_result``).
watch_only: set[str] = set()
