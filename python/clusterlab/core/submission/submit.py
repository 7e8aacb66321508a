"""Submission: serialize, stage and submit in as few round trips as possible, record the
job in the ledger at once and start watching it (single calls through the submission
thread of :mod:`.batcher`, so ``submit()`` never waits for the cluster).

One function per shape of work: :func:`submit_job` (one call, one scheduler job) and
:func:`submit_array` (many calls, one native array cut into tasks by a :class:`Plan`),
which :mod:`clusterlab.core.entry` calls with a profile's runtime;
:mod:`.rerun` resubmits failed items of an array with the calls read back from the cluster.
"""

from __future__ import annotations

import functools
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

from ...backends.base import ArraySpec, JobSpec
from ...common import jobdir
from ...common.errors import ClusterlabError, SubmitError
from ...common.states import JobState
from ...config import validators
from ...config.resources import Resources, refuse_unsupported
from ...config.runopts import RunOptions
from ..discovery import limits
from ..environment import codescan, packages
from ..ledger import records
from ..model.alive import live
from ..model.array import ArrayJob, ArrayPart
from ..model.dependencies import Dependencies
from ..model.job import Job
from ..model.plan import Plan, check_options, make_plan
from ..transfer.localcode import is_local
from ..transfer.payload import dumps_call, dumps_function, dumps_items
from ..transfer.staging import Staged, item_env, item_outputs, jobs_root, resolve, run_record
from ..watching.workerpool import pool_files
from .attempts import check_policy, policy_files, requeue_grace
from .batcher import SUBMITTING_REASON, Pending, refuse
from .ranks import refuse_ranked_map, task_env

if TYPE_CHECKING:
    from ..runtime import Runtime

Dependency = Job | ArrayJob
Call = tuple[int, tuple[Any, ...], dict[str, Any], Any]  # (item index, args, kwargs, refs)
RUNNER_FILES = {
    name: importlib_resources.files("clusterlab.remote").joinpath(name).read_bytes()
    for name in jobdir.RUNNER_FILES
}
"""What every job dir receives besides its payload: the runner and its other files."""
RUNNER_SOURCE = RUNNER_FILES[jobdir.RUNNER]


def new_job_id() -> str:
    """Sortable and unique without coordination: time plus randomness."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def note_needs(fn: Callable[..., Any], *values: Any) -> None:
    """What the function and its arguments import, read from their code, joins what
    this kernel has sent (the sync lock and preflight's package table read it)."""
    what = getattr(fn, "__name__", None) or type(fn).__name__
    try:
        needs = codescan.needs_of(fn, *values, by_value=is_local)
    except Exception as exc:  # reading code must never stop a submission: say so, go on
        warnings.warn(
            f"clusterlab: could not read what {what!r} imports ({type(exc).__name__}: "
            f"{exc}); a sync environment holds what this kernel imported, so import what "
            "the function needs in the notebook",
            stacklevel=3,
        )
        return
    packages.note_shipped(needs, f"the function {what!r}")


def job_name(fn: Callable[..., Any], name: str | None) -> str:
    """The name a job shows in the queue: the one given, else the function's."""
    try:
        return validators.check_job_name(name or getattr(fn, "__name__", None) or "job")
    except ValueError as exc:
        raise SubmitError(str(exc)) from None


def _dependencies(runtime: Runtime, after: Iterable[Dependency]) -> Dependencies:
    deps = Dependencies(runtime.backend, runtime.profile.name)
    for dep in after:
        deps.add(dep)
    return deps


def _spec(
    runtime: Runtime,
    job_id: str,
    name: str,
    job_dir: str,
    resources: Resources,
    after: list[str],
    staged: Staged | None = None,
    python: list[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> JobSpec:
    staged = staged or resolve(runtime, None)
    merged = runtime.default_resources.merged(resources)
    env = {**staged.env, **(extra_env or {}), **task_env(merged)}
    python = list(python or runtime.environment.python_argv(staged.options.environment))
    needs: list[str] = []
    if runtime.environment.container is not None:  # the job dir, blobs, workdir: same paths
        needs = [runtime.environment.container.engine()]
        python = runtime.environment.container.wrap(
            python,
            binds=[runtime.jobs_root().rsplit("/", 1)[0], staged.workdir],
            pwd=job_dir,
            env_names=[*env, jobdir.WORKDIR_VAR, jobdir.ITEM_DIRS_VAR],
            gpus=bool(merged.gpus),
        )
    return JobSpec(
        job_id=job_id,
        name=name,
        job_dir=job_dir,
        resources=merged,
        python=python,
        setup=list(runtime.profile.setup),
        after=after,
        env=env,
        workdir=staged.workdir,
        inputs=staged.inputs,
        needs=[n for n in needs if n != python[0]],
        requeue_grace=requeue_grace(staged.options.attempts),
    )


def submit_job(
    runtime: Runtime,
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    resources: Resources,
    name: str | None = None,
    after: Iterable[Dependency] = (),
    *,
    options: RunOptions | None = None,
) -> Job:
    """Serialize here, record the job as SUBMITTING and hand it to the submission thread
    (:mod:`.batcher`), which submits it with the calls made around the same time. What is
    wrong with the call raises here; what goes wrong on the cluster, reaching it included
    (the profile's host, its Python, checked once per runtime), reaches the Job (FAILED
    with the sentence, a ledger row every view shows; ``result()`` raises it)."""
    refuse_unsupported(runtime.default_resources.merged(resources), runtime.profile.scheduler)
    staged = resolve(runtime, options)
    policy = staged.options.attempts
    check_policy(policy, runtime.backend, runtime.profile.scheduler)
    deps = _dependencies(runtime, after)
    args, kwargs, refs = deps.references(args, kwargs)
    name = job_name(fn, name)
    # Once per runtime: a profile that cannot work (no such host, no Python there) gives a
    # FAILED job below, recorded like a scheduler's refusal; a bug of ours still raises.
    refused: ClusterlabError | None = None
    note_needs(fn, args, kwargs)  # before the check: a sync env is built with what it needs
    try:
        runtime.ensure_ready(staged.options.environment)
        limits.refuse(runtime.profile, runtime.backend, runtime.default_resources.merged(resources))
    except ClusterlabError as exc:
        refused = exc
    blobs: dict[str, bytes] = {}
    if refused is None:
        args, kwargs, refs, blobs = runtime.blobs.externalize(args, kwargs, refs)
    payload = dumps_call(fn, tuple(args), kwargs, refs)  # an unpicklable argument raises
    job_id = new_job_id()
    # The host may be unreachable: then the directory it would have had, as configured.
    root = jobs_root(runtime.profile, str) if refused else runtime.jobs_root()
    job_dir = f"{root}/{job_id}"
    spec = _spec(runtime, job_id, name, job_dir, resources, [], staged)
    files = {jobdir.PAYLOAD: payload, **RUNNER_FILES, **policy_files(policy, runtime.backend)}
    records.record_intent(
        runtime.profile,
        {
            "id": job_id,
            "kind": "job",
            "name": name,
            "job_dir": job_dir,
            "resources": spec.resources.to_dict(),
            "after": deps.ids,
            "submitted": time.time(),
        },
    )
    job = Job(runtime, job_id, name, "", job_dir, spec.resources, after=deps.ids)
    job.max_attempts = policy.max_attempts
    job.result_limit = staged.options.result_limit
    if staged.options.outputs:  # fetched by the collector before the future resolves
        dest = staged.options.outputs_dir or "."
        job.outputs = (staged.workdir_of(job_dir), list(staged.options.outputs), dest)
    job.set_state(JobState.SUBMITTING, SUBMITTING_REASON)
    live[job_id] = job  # cl.job(id) in this process is this object, refused or not
    if refused is not None:
        refuse(job, refused)
        runtime.flush()
        return job
    runtime.retrier.remember(job, spec, policy)
    runtime.batcher.put(Pending(job, spec, files, {**blobs, **staged.blobs}, staged, deps))
    return job


def submit_array(
    runtime: Runtime,
    fn: Callable[..., Any],
    calls_args: Sequence[tuple[Any, ...]],
    resources: Resources,
    name: str | None = None,
    after: Iterable[Dependency] = (),
    chunksize: int | None = None,
    max_concurrent: int = 0,
    workers: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    *,
    options: RunOptions | None = None,
) -> ArrayJob:
    """One native array for all calls (split only past the scheduler's size limit), cut
    into tasks by :func:`make_plan` unless ``chunksize``/``workers`` say otherwise.

    ``fixed`` keyword arguments travel once, bound to the function (``functools.partial``),
    not once per item; a Job among them becomes a reference in every item (its result is
    loaded on the cluster)."""
    check_options(chunksize, workers, max_concurrent)
    refuse_unsupported(runtime.default_resources.merged(resources), runtime.profile.scheduler)
    refuse_ranked_map(runtime.default_resources.merged(resources), workers)
    staged = resolve(runtime, options)
    check_policy(staged.options.attempts, runtime.backend, runtime.profile.scheduler)
    deps = _dependencies(runtime, after)
    name = job_name(fn, name)
    _, fixed_values, fixed_refs = deps.references([], fixed or {})
    bound = {k: v for k, v in fixed_values.items() if k not in fixed_refs["kwargs"]}
    if bound:
        fn = functools.partial(fn, **bound)
    calls: list[Call] = []
    for index, call_args in enumerate(calls_args):
        item_args, _, refs = deps.references(call_args, {})
        refs["kwargs"] = dict(fixed_refs["kwargs"])
        calls.append((index, tuple(item_args), {}, refs))
    fn_bytes = dumps_function(fn)  # fails before anything remote
    note_needs(fn, [c[1] for c in calls])
    if calls:
        runtime.ensure_ready(staged.options.environment)
        limits.refuse(runtime.profile, runtime.backend, runtime.default_resources.merged(resources))
        runtime.blobs.upload(staged.blobs)
    plan = plan_for(runtime, len(calls), resources, chunksize, workers, max_concurrent)
    array = ArrayJob(runtime, new_job_id(), name, len(calls), plan)
    array.staged = staged  # a rerun keeps the working dir, env, inputs and Python
    array.python = runtime.environment.python_argv(staged.options.environment)
    submit_calls(runtime, array, plan, fn_bytes, calls, resources, deps, max_concurrent, staged)
    return array


def plan_for(
    runtime: Runtime,
    n: int,
    resources: Resources,
    chunksize: int | None,
    workers: int | None,
    max_concurrent: int,
) -> Plan:
    """The map's plan; asks the scheduler how many tasks fit only when it matters."""
    backend = runtime.backend
    capacity = max_tasks = 0
    if n and chunksize is None and workers is None:
        if not max_concurrent:
            capacity = backend.capacity(runtime.default_resources.merged(resources))
        max_tasks = backend.max_array_size()
    plan = make_plan(
        n,
        chunksize=chunksize,
        workers=workers,
        max_concurrent=max_concurrent,
        capacity=capacity,
        max_tasks=max_tasks,
    )
    if plan.pool and plan.tasks > backend.max_array_size():
        raise ValueError(
            f"workers={plan.tasks} is more than one array may hold on this scheduler "
            f"({backend.max_array_size()} tasks): use fewer workers"
        )
    return plan


def submit_calls(
    runtime: Runtime,
    array: ArrayJob,
    plan: Plan,
    fn_bytes: bytes,
    calls: list[Call],
    resources: Resources,
    deps: Dependencies,
    max_concurrent: int,
    staged: Staged,
) -> None:
    """Stage and submit ``calls`` as one or more native arrays of ``array``."""
    runtime.batcher.wait_idle()  # the submit() calls made before this map go first
    deps.wait_for_ids()  # a job it waits for may still be SUBMITTING (milliseconds)
    natives, ids = deps.natives, deps.ids
    tasks = [[calls[i] for i in share] for share in plan.shares()]
    task_files = [dumps_items(array.name, chunk) for chunk in tasks]
    max_tasks = max(1, len(tasks) if plan.pool else runtime.backend.max_array_size())
    starts = range(0, len(tasks), max_tasks)
    throttle = max_concurrent
    if throttle and len(starts) > 1:
        throttle = max(1, throttle // len(starts))  # the limit holds across the parts
    merged = runtime.default_resources.merged(resources)
    python = array.python  # as first submitted: a rerun from a new kernel runs the same
    first_new = len(array.parts)
    base = new_job_id() if first_new else array.id
    dirs = [f"{runtime.jobs_root()}/{base}{f'-{p}' if len(starts) > 1 else ''}" for p in starts]
    planned = [
        {"job_dir": d, "task_items": [[c[0] for c in chunk] for chunk in tasks[s : s + max_tasks]]}
        for d, s in zip(dirs, starts, strict=True)
    ]
    if not first_new:  # a new array: its row exists before the scheduler hears of it
        records.record_intent(
            runtime.profile,
            {
                "id": array.id,
                "kind": "array",
                "name": array.name,
                "job_dir": dirs[0] if dirs else "",
                "resources": merged.to_dict(),
                "after": ids,
                "size": array.size,
                "spec": {
                    "parts": planned,
                    "plan": plan.to_dict(),
                    "chunksize": plan.chunksize,
                    "run": run_record(array),
                },
                "submitted": array.submitted_at,
            },
        )
    try:
        for p, start in enumerate(starts):
            ptasks, pfiles = tasks[start : start + max_tasks], task_files[start : start + max_tasks]
            job_dir = dirs[p]
            extra = item_env(staged, job_dir, array.id)
            spec = _spec(
                runtime, array.id, array.name, job_dir, resources, natives, staged, python, extra
            )
            spec.array = ArraySpec(len(ptasks), throttle)
            task_items = [[c[0] for c in chunk] for chunk in ptasks]
            files: dict[str, bytes] = {
                jobdir.FUNCTION: fn_bytes,
                **RUNNER_FILES,
                **policy_files(staged.options.attempts, runtime.backend),
                f"{jobdir.ITEMS}/": b"",
                f"{jobdir.RESULTS}/": b"",
            }
            if plan.pool:
                files.update(pool_files(task_items))
            files.update({jobdir.task_items(t): data for t, data in enumerate(pfiles)})
            native = runtime.backend.submit(spec, files)
            part = ArrayPart(array, native, job_dir, task_items, pool=plan.pool)
            for task, indices in enumerate(task_items):
                for index in indices:
                    job = part.new_item(runtime, index, task, merged, ids)
                    job.outputs = item_outputs(staged, job_dir, array.id, index)
                    job.result_limit = staged.options.result_limit
            array.parts.append(part)
    except BaseException as exc:
        if len(array.parts) > first_new:  # some parts run: keep them watched and recorded
            _install(runtime, array, array.parts[first_new:], merged, ids)
        elif not first_new:
            records.record_refused(array.id, exc)
        raise
    _install(runtime, array, array.parts[first_new:], merged, ids)


def _install(
    runtime: Runtime,
    array: ArrayJob,
    new_parts: list[ArrayPart],
    resources: Resources,
    ids: list[str],
) -> None:
    """Put new parts' jobs into the array, record everything, start watching."""
    new = {i: job for part in new_parts for i, job in part.jobs.items()}
    if not array.elements:
        array.elements = [new[i] for i in sorted(new)]
    else:
        for i, job in new.items():
            array.elements[i] = job
    records.record_array(runtime.profile, array, sorted(new), resources, ids)
    live[array.id] = array
    runtime.arrays[array.id] = array
    for part in new_parts:
        runtime.watcher.add(part)
