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
from .common.errors import ClusterlabError, OurFramesHidden
from .common.estimate import Estimate
from .config.profile import Profile
from .config.resources import Resources, parse_resources
from .config.runopts import OPTION_NAMES, RunOptions, parse_run_options
from .core.entry import submit_call, submit_map
from .core.model.array import ArrayJob
from .core.model.job import Job
from .discovery import estimate_for

P = ParamSpec("P")
R = TypeVar("R")


def _show_output(job: Job) -> None:
    """Print the job's output where a local call would have printed it, as it comes."""
    try:
        for stream, text in job.engine.follow_output(job):
            target = sys.stdout if stream == "stdout" else sys.stderr
            target.write(text)
            target.flush()
    except ClusterlabError as exc:  # the value still comes back; say what is missing
        print(f"clusterlab: could not fetch the output of job {job.id}: {exc}", file=sys.stderr)


ProgressDisplay = Callable[[ArrayJob, bool], None]
_progress_display: ProgressDisplay | None = None


def set_progress_display(display: ProgressDisplay | None) -> None:
    """Register how a map shows its progress (the notebook layer's widget: the API never
    imports a UI). ``display(array, forced)``: forced by ``progress=True``, even outside."""
    global _progress_display
    _progress_display = display


def _maybe_show_progress(array: ArrayJob, progress: bool | None) -> None:
    """Show progress unless turned off; never fail a submission over it."""
    if progress is False or (progress is None and os.environ.get("CLUSTERLAB_PROGRESS") == "0"):
        return
    if _progress_display is not None:
        _progress_display(array, bool(progress))


def wait_and_show(job: Job) -> Any:
    """Block like a local call: the job's output shows while it runs, interrupting
    (Ctrl-C / "interrupt kernel") cancels the job; then its value or its exception."""
    __tracebackhide__ = True  # IPython shows the user's call and the job's error
    with OurFramesHidden():
        try:
            _show_output(job)
        except KeyboardInterrupt:
            job.cancel()
            raise
        return job.result()


class ClusterFunction(Generic[P, R]):
    """A function bound to a profile and resources.

    Calling it runs it on the cluster and returns the value (remote prints shown, remote
    exceptions re-raised; interrupting the kernel cancels the job). ``.submit()`` returns a
    :class:`Job` at once; ``.options(**resources)`` overrides resources for one call,
    and where and how it runs (``workdir``, ``env``, ``environment``, ``files``,
    ``outputs``, ``outputs_dir``).
    """

    def __init__(
        self,
        fn: Callable[P, R],
        profile: str | Profile | None,
        resources: Resources,
        async_submit: bool = False,
        name: str | None = None,
        after: Sequence[Job | ArrayJob] = (),
        run: RunOptions | None = None,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.profile = profile
        self.resources = resources
        self.async_submit = async_submit
        self.name = name or getattr(fn, "__name__", "job")
        self.dependencies = list(after)
        self.run = run or RunOptions()

    def _copy(self, **changes: Any) -> ClusterFunction[P, R]:
        fields: dict[str, Any] = {
            "fn": self.fn,
            "profile": self.profile,
            "resources": self.resources,
            "async_submit": self.async_submit,
            "name": self.name,
            "after": self.dependencies,
            "run": self.run,
        }
        fields.update(changes)
        return ClusterFunction(**fields)

    def submit(self, *args: Any, after: Sequence[Job | ArrayJob] = (), **kwargs: Any) -> Job:
        """Submit one call and return its Job immediately, SUBMITTING until the scheduler
        accepted it (calls made in a loop are staged and submitted together in the
        background; a refusal makes the Job FAILED and ``result()`` raises it).

        ``after=[a, b]`` waits for those jobs (SLURM ``afterok``); a Job passed as an
        argument is waited for too, and the function receives its result.
        """
        with OurFramesHidden():  # a mistake the user can fix: the sentence, not our frames
            return self._submit(args, kwargs, after)

    def _submit(
        self, args: Sequence[Any], kwargs: dict[str, Any], after: Sequence[Job | ArrayJob] = ()
    ) -> Job:
        profile = profiles.resolve(self.profile)
        deps = [*self.dependencies, *after]
        return submit_call(
            profile, self.fn, args, kwargs, self.resources, self.name, deps, options=self.run
        )

    def map(
        self,
        items: Iterable[Any],
        *more_items: Iterable[Any],
        max_concurrent: int = 0,
        chunksize: int | None = None,
        workers: int | None = None,
        after: Sequence[Job | ArrayJob] = (),
        progress: bool | None = None,
        **fixed: Any,
    ) -> ArrayJob:
        """``fn(item, **fixed)`` for every item as ONE native array job, submitted now.

        ``f.map(xs, ys)`` calls ``fn(x, y)`` for pairs (iterables of one length);
        ``f.map(xs, base=10)`` passes the same keyword arguments to every call, sent once
        for the whole array (a Job among them is a dependency whose result every call
        gets). By default the items are spread over as many tasks as can run at once (one
        wave, shown by ``arr.plan``: "1,000 items in 16 tasks of ~63"), because each
        scheduler task costs a launch. ``chunksize=K`` fixes K items per task (``1``: one
        task per item); ``workers=K`` starts K workers that pull items from a queue, for
        items of uneven length. ``max_concurrent`` caps how many tasks run at once (SLURM's
        ``%N``). Results stay per item: ``arr[i]``, ``arr.results()``, ``arr.failed()``,
        ``arr.rerun_failed()``. In a notebook a progress bar is shown; ``progress=False``
        (or ``CLUSTERLAB_PROGRESS=0``) turns it off. The option names above cannot be
        fixed arguments; bind those with ``functools.partial`` first.
        """
        with OurFramesHidden():  # a mistake the user can fix: the sentence, not our frames
            array = submit_map(
                profiles.resolve(self.profile),
                self.fn,
                items,
                self.resources,
                self.name,
                [*self.dependencies, *after],
                chunksize=chunksize,
                max_concurrent=max_concurrent,
                workers=workers,
                more=more_items,
                fixed=fixed,
                options=self.run,
            )
        _maybe_show_progress(array, progress)
        return array

    def after(self, *jobs: Job | ArrayJob) -> ClusterFunction[P, R]:
        """A copy whose submissions wait for ``jobs``: ``f.after(a, b).submit(x)``."""
        return self._copy(after=[*self.dependencies, *jobs])

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        __tracebackhide__ = True  # IPython shows the user's call and the error
        with OurFramesHidden():  # the user's line, then the sentence or the job's error
            job = self._submit(args, kwargs)
            if self.async_submit:
                return job
            return wait_and_show(job)

    def options(
        self, profile: str | Profile | None = None, **resources: Any
    ) -> ClusterFunction[P, R]:
        """A copy with some resources changed: ``f.options(cores=16).submit(x)``; with
        ``profile=`` it goes to another profile (an unknown name is refused here).

        Where and how it runs, over the profile's settings: ``workdir="~/project"`` (its
        current directory there), ``env={"OMP_NUM_THREADS": "4"}`` (added to the profile's),
        ``environment="sync"``, ``files=["data.csv"]`` (uploaded into the working dir,
        once per content), ``outputs=["*.png"]`` (globs there, downloaded with the result
        into ``outputs_dir``, default the current directory; a map's item ``i`` runs in
        its own directory and its files land in ``<outputs_dir>/<i>/``)."""
        run, resources = _split_run(resources)
        changes: dict[str, Any] = {
            "resources": self.resources.merged(parse_resources(resources)),
            "run": self.run.merged(run),
        }
        if profile is not None:
            changes["profile"] = _named(profile)
        return self._copy(**changes)

    def estimate(self) -> Estimate:
        """When a call with these resources would start (see :func:`clusterlab.estimate`)."""
        return estimate_for(self.profile, self.resources)

    def __repr__(self) -> str:
        where = (
            self.profile.name if isinstance(self.profile, Profile) else self.profile or "default"
        )
        return f"<cluster function {self.name} on {where} {self.resources.to_dict()}>"


def _split_run(values: dict[str, Any]) -> tuple[RunOptions, dict[str, Any]]:
    """Run options (workdir, env, ...) apart from resources, the former validated."""
    run = {k: v for k, v in values.items() if k in OPTION_NAMES}
    rest = {k: v for k, v in values.items() if k not in OPTION_NAMES}
    return parse_run_options(run), rest


def _named(profile: Any) -> str | Profile:
    """A Profile, or the name of one that exists (else refused with the closest name)."""
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
    run, resources = _split_run(resources)
    parsed = parse_resources(resources)
    if callable(profile) and not isinstance(profile, Profile):
        return ClusterFunction(profile, None, parsed, async_submit, name, run=run)
    if profile is not None:
        profile = _named(profile)

    def wrap(fn: Callable[P, R]) -> ClusterFunction[P, R]:
        return ClusterFunction(fn, profile, parsed, async_submit, name, run=run)

    return wrap


def _result_or_cancel(job: Job, timeout: float | None) -> Any:
    __tracebackhide__ = True
    try:
        value = job.result(None if timeout is None else max(0.0, timeout))
        job.forget_result()  # the caller holds the only copy (CPython's map does the same)
        return value
    finally:
        job.cancel()  # a no-op once it finished; a job that timed out is not left running
        del job


class Executor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` whose workers are cluster jobs.

    ``with Executor("hpc", cores=2) as ex: ex.submit(fn, 1)``; leaving the block waits for
    the submitted jobs, as with ProcessPoolExecutor. ``max_workers`` caps how many tasks of
    one ``map`` run at once (the scheduler's array throttle); each ``submit`` is its own
    job, queued by the scheduler. Finished jobs are not kept here, and ``map``'s iterator
    lets go of each result once it gave it (a map over large results does not hold them
    all), as CPython's executors do.
    """

    def __init__(
        self,
        profile: str | Profile | None = None,
        max_workers: int | None = None,
        **resources: Any,
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0 (or None: no cap)")
        self.profile = profiles.resolve(profile)
        self.run, resources = _split_run(resources)  # workdir, env, environment, files
        self.resources = parse_resources(resources)
        self.max_workers = max_workers
        self._jobs: set[Job] = set()  # unfinished jobs, for shutdown(wait=True)
        self._lock = threading.Lock()
        self._shutdown = False

    def _check_open(self) -> None:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown(): create a new Executor")

    def _track(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            with self._lock:
                self._jobs.add(job)
            job.add_done_callback(self._forget)

    def _forget(self, job: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._jobs.discard(job)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
        self._check_open()
        job = submit_call(self.profile, fn, args, kwargs, self.resources, options=self.run)
        self._track([job])
        return job

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
    ) -> Iterator[Any]:
        """Like ``Executor.map``, but all calls go in ONE array job; results in order.

        Several iterables stop at the shortest, as ``map`` does. ``chunksize=None`` (the
        default) lets clusterlab choose how many calls share a task (see
        ``ClusterFunction.map``)."""
        if not iterables:
            raise TypeError("Executor.map() needs at least one iterable: ex.map(fn, items)")
        self._check_open()
        array = submit_map(
            self.profile,
            fn,
            iterables[0],
            self.resources,
            chunksize=chunksize,
            max_concurrent=self.max_workers or 0,
            more=iterables[1:],
            strict=False,
            options=self.run,
        )
        jobs = list(array.elements)
        self._track(jobs)
        deadline = None if timeout is None else time.monotonic() + timeout
        del array

        def results() -> Iterator[Any]:
            # Pop each job before yielding its value: the iterator then holds no result it
            # already gave (CPython's test_free_reference). Leaving early (an exception, a
            # timeout, the iterator dropped) cancels the calls nobody will read, as
            # concurrent.futures does.
            __tracebackhide__ = True  # IPython shows the user's loop and the error
            jobs.reverse()
            try:
                while jobs:
                    left = None if deadline is None else deadline - time.monotonic()
                    with OurFramesHidden():  # a job's error: the user's loop, then it
                        yield _result_or_cancel(jobs.pop(), left)
            finally:
                for job in jobs:
                    job.cancel()

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
