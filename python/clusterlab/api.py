"""The user-facing ways to send functions: ``@cluster`` and ``Executor``."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import profiles
from .config.profile import Profile
from .config.resources import Resources, parse_resources
from .core.array import ArrayJob
from .core.job import Job
from .core.submit import submit_call, submit_map

P = ParamSpec("P")
R = TypeVar("R")


def _show_logs(job: Job) -> None:
    """Print the job's output where a local call would have printed it."""
    try:
        out, err = job.stdout(), job.stderr()
    except Exception as exc:
        print(f"clusterlab: could not fetch the output of job {job.id}: {exc}", file=sys.stderr)
        return
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    if err:
        sys.stderr.write(err)
        sys.stderr.flush()


ProgressDisplay = Callable[[ArrayJob, bool], None]
_progress_display: ProgressDisplay | None = None


def set_progress_display(display: ProgressDisplay | None) -> None:
    """Register how a map shows its progress (the notebook layer registers a widget; the
    API never imports a UI). ``display(array, forced)``: ``forced`` is True when the
    caller passed ``progress=True``, so it shows even outside a kernel."""
    global _progress_display
    _progress_display = display


def _maybe_show_progress(array: ArrayJob, progress: bool | None) -> None:
    """Show progress unless turned off; never fail a submission over it."""
    if progress is False or (progress is None and os.environ.get("CLUSTERLAB_PROGRESS") == "0"):
        return
    if _progress_display is not None:
        _progress_display(array, bool(progress))


def wait_and_show(job: Job) -> Any:
    """Block like a local call: interruptible (Ctrl-C / "interrupt kernel" cancels the job),
    then show the job's output and return its value or raise its exception."""
    try:
        while not concurrent.futures.wait([job], timeout=0.5).done:
            pass
    except KeyboardInterrupt:
        job.cancel()
        raise
    _show_logs(job)
    return job.result()


class ClusterFunction(Generic[P, R]):
    """A function bound to a profile and resources.

    Calling it runs it on the cluster and returns the value (remote prints shown, remote
    exceptions re-raised; interrupting the kernel cancels the job). ``.submit()`` returns a
    :class:`Job` at once; ``.options(**resources)`` overrides resources for one call.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        profile: str | Profile | None,
        resources: Resources,
        async_submit: bool = False,
        name: str | None = None,
        after: Sequence[Job | ArrayJob] = (),
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.profile = profile
        self.resources = resources
        self.async_submit = async_submit
        self.name = name or getattr(fn, "__name__", "job")
        self.dependencies = list(after)

    def _copy(self, **changes: Any) -> ClusterFunction[P, R]:
        fields: dict[str, Any] = {
            "fn": self.fn,
            "profile": self.profile,
            "resources": self.resources,
            "async_submit": self.async_submit,
            "name": self.name,
            "after": self.dependencies,
        }
        fields.update(changes)
        return ClusterFunction(**fields)

    def submit(self, *args: Any, after: Sequence[Job | ArrayJob] = (), **kwargs: Any) -> Job:
        """Submit one call and return its Job immediately.

        ``after=[a, b]`` waits for those jobs (SLURM ``afterok``); a Job passed as an
        argument is waited for too, and the function receives its result.
        """
        return self._submit(args, kwargs, after)

    def _submit(
        self, args: Sequence[Any], kwargs: dict[str, Any], after: Sequence[Job | ArrayJob] = ()
    ) -> Job:
        profile = profiles.resolve(self.profile)
        deps = [*self.dependencies, *after]
        return submit_call(profile, self.fn, args, kwargs, self.resources, self.name, deps)

    def map(
        self,
        items: Iterable[Any],
        *,
        max_concurrent: int = 0,
        chunksize: int | None = None,
        workers: int | None = None,
        after: Sequence[Job | ArrayJob] = (),
        progress: bool | None = None,
    ) -> ArrayJob:
        """``fn(item)`` for every item as ONE native array job, submitted now.

        By default the items are spread over as many tasks as can run at once (one wave,
        shown by ``arr.plan``: "1,000 items in 16 tasks of ~63"), because each scheduler
        task costs a launch. ``chunksize=K`` fixes K items per task (``1``: one task per
        item); ``workers=K`` starts K workers that pull items from a queue, for items of
        uneven length. ``max_concurrent`` caps how many tasks run at once (SLURM's ``%N``).
        Results stay per item: ``arr[i]``, ``arr.results()``, ``arr.failed()``,
        ``arr.rerun_failed()``. In a notebook a progress bar is shown; ``progress=False``
        (or ``CLUSTERLAB_PROGRESS=0``) turns it off.
        """
        profile = profiles.resolve(self.profile)
        deps = [*self.dependencies, *after]
        array = submit_map(
            profile,
            self.fn,
            items,
            self.resources,
            self.name,
            deps,
            chunksize=chunksize,
            max_concurrent=max_concurrent,
            workers=workers,
        )
        _maybe_show_progress(array, progress)
        return array

    def after(self, *jobs: Job | ArrayJob) -> ClusterFunction[P, R]:
        """A copy whose submissions wait for ``jobs``: ``f.after(a, b).submit(x)``."""
        return self._copy(after=[*self.dependencies, *jobs])

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        job = self._submit(args, kwargs)
        if self.async_submit:
            return job
        return wait_and_show(job)

    def options(
        self, profile: str | Profile | None = None, **resources: Any
    ) -> ClusterFunction[P, R]:
        """A copy with some resources changed: ``f.options(cores=16).submit(x)``; with
        ``profile=`` it goes to another profile (an unknown name is refused here)."""
        changes: dict[str, Any] = {"resources": self.resources.merged(parse_resources(resources))}
        if profile is not None:
            changes["profile"] = _named(profile)
        return self._copy(**changes)

    def __repr__(self) -> str:
        where = (
            self.profile.name if isinstance(self.profile, Profile) else self.profile or "default"
        )
        return f"<cluster function {self.name} on {where} {self.resources.to_dict()}>"


def _named(profile: Any) -> str | Profile:
    """A Profile, or the name of one that exists; otherwise refused with the known names
    and the closest one, where the profile is named."""
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str):
        raise TypeError(
            f"profile={profile!r:.40}: give a profile's name such as 'hpc', a cl.Profile, "
            "or nothing for the session default"
        )
    return profiles.require(profile)


@overload
def cluster(profile: Callable[P, R], /) -> ClusterFunction[P, R]: ...


@overload
def cluster(
    profile: str | Profile | None = None,
    /,
    *,
    async_submit: bool = False,
    name: str | None = None,
    **resources: Any,
) -> Callable[[Callable[P, R]], ClusterFunction[P, R]]: ...


def cluster(
    profile: Any = None,
    /,
    *,
    async_submit: bool = False,
    name: str | None = None,
    **resources: Any,
) -> Any:
    """Decorate a function to run on a cluster: ``@cluster("hpc", cores=8, time="1:00:00")``.

    Resources and the profile's name are checked now, so a typo fails at definition, not
    after a queue wait (the profile must exist first). Without a profile the session
    default (:func:`clusterlab.use`) is used at call time.
    """
    parsed = parse_resources(resources)
    if callable(profile) and not isinstance(profile, Profile):
        return ClusterFunction(profile, None, parsed, async_submit, name)
    if profile is not None:
        profile = _named(profile)

    def wrap(fn: Callable[P, R]) -> ClusterFunction[P, R]:
        return ClusterFunction(fn, profile, parsed, async_submit, name)

    return wrap


def _star(fn: Callable[..., Any]) -> Callable[[tuple[Any, ...]], Any]:
    """``fn(*item)`` for Executor.map over several iterables. A nested function, so
    cloudpickle ships it by value: the cluster never needs clusterlab installed."""

    def star(item: tuple[Any, ...]) -> Any:
        return fn(*item)

    return star


class Executor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` whose workers are cluster jobs.

    ``with Executor("hpc", cores=2) as ex: ex.submit(fn, 1)``; leaving the block waits for
    the submitted jobs, as with ProcessPoolExecutor.
    """

    def __init__(self, profile: str | Profile | None = None, **resources: Any) -> None:
        self.profile = profiles.resolve(profile)
        self.resources = parse_resources(resources)
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown(): create a new Executor")
        job = submit_call(self.profile, fn, args, kwargs, self.resources)
        with self._lock:
            self._jobs.append(job)
        return job

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator[Any]:
        """Like ``Executor.map``, but all calls go in ONE array job; results in order.

        ``chunksize=None`` (the default) lets clusterlab choose how many calls share a
        task (see ``ClusterFunction.map``)."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown(): create a new Executor")
        if len(iterables) == 1:
            array = submit_map(self.profile, fn, iterables[0], self.resources, chunksize=chunksize)
        else:
            star = _star(fn)
            array = submit_map(
                self.profile,
                star,
                zip(*iterables, strict=False),
                self.resources,
                name=getattr(fn, "__name__", "job"),
                chunksize=chunksize,
            )
        with self._lock:
            self._jobs.extend(array.elements)
        deadline = None if timeout is None else time.monotonic() + timeout

        def results() -> Iterator[Any]:
            for job in array.elements:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                yield job.result(left)

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            jobs = list(self._jobs)
        if cancel_futures:
            for job in jobs:
                if not job.done():
                    job.cancel()
        if wait:
            concurrent.futures.wait(jobs)
