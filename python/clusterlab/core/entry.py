"""The engine's entry points for the API: a profile and a function in, a Job or an
ArrayJob out. Here a profile becomes its :class:`~.runtime.Runtime` (the wiring), which
the submission room (:mod:`.submission.submit`) then works with, so submission never
imports the runtime that wires it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..common.errors import SubmitError
from ..config.profile import Profile
from ..config.resources import Resources
from ..config.runopts import RunOptions
from .model.array import ArrayJob
from .model.job import Job
from .runtime import get_runtime
from .submission.submit import Dependency, submit_array, submit_job


def submit_call(
    profile: Profile,
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    resources: Resources | None = None,
    name: str | None = None,
    after: Iterable[Dependency] = (),
    options: RunOptions | None = None,
) -> Job:
    """Submit ``fn(*args, **kwargs)`` with ``profile`` (the one entry point for every API)."""
    if not callable(fn):
        raise SubmitError(f"{fn!r} is not callable: submit a function")
    runtime = get_runtime(profile)
    res = resources or Resources()
    return submit_job(runtime, fn, args, kwargs, res, name, after, options=options)


def submit_map(
    profile: Profile,
    fn: Callable[..., Any],
    items: Iterable[Any],
    resources: Resources | None = None,
    name: str | None = None,
    after: Iterable[Dependency] = (),
    chunksize: int | None = None,
    max_concurrent: int = 0,
    workers: int | None = None,
    *,
    more: Sequence[Iterable[Any]] = (),
    fixed: Mapping[str, Any] | None = None,
    strict: bool = True,
    options: RunOptions | None = None,
) -> ArrayJob:
    """Submit ``fn(item, *more_items, **fixed)`` for every item as one array job (see
    :mod:`clusterlab.core.model.plan`). Several iterables are zipped: of unequal lengths they are
    refused when ``strict`` (a notebook typo), else cut to the shortest (``Executor.map``)."""
    if not callable(fn):
        raise SubmitError(f"{fn!r} is not callable: map a function")
    columns = [list(items), *(list(column) for column in more)]
    lengths = [len(column) for column in columns]
    if strict and len(set(lengths)) > 1:
        raise ValueError(
            f"map() got iterables of different lengths ({', '.join(map(str, lengths))}): "
            "give iterables of one length, or zip() them yourself to stop at the shortest"
        )
    return submit_array(
        get_runtime(profile),
        fn,
        list(zip(*columns, strict=False)),
        resources or Resources(),
        name,
        after,
        chunksize,
        max_concurrent,
        workers,
        fixed=fixed or {},
        options=options,
    )
