"""The executor core: submit, collect and cancel, independent of any scheduler.

A :class:`Runtime` exists once per profile (per its settings) in a process: it owns the
profile's transport (one SSH connection), backend and watcher, so every job of a profile
shares them however it was submitted (decorator, Executor, map, magic). Every submission
is recorded in the ledger at once; state changes are written there in one transaction per
poll.
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..backends import make_backend
from ..backends.base import ArraySpec, JobSpec, WatchTarget
from ..common.errors import ClusterlabError, JobError, RemoteEnvironmentError, SubmitError
from ..common.states import JobState
from ..config.paths import data_dir
from ..config.profile import Profile
from ..config.resources import Resources, parse_resources
from ..transports import get_transport
from . import ledger
from .array import ArrayJob, ArrayPart
from .blobs import BlobStore
from .dependencies import Dependencies, failure_reason
from .job import Job
from .live import live
from .payload import dumps_call, dumps_function, dumps_items, load_result
from .plan import CANCEL_CLAIMS, Plan, check_options, make_plan, pool_files
from .watcher import Watcher

if TYPE_CHECKING:
    from .watcher import Finished

RUNNER_SOURCE = importlib_resources.files("clusterlab.remote").joinpath("runner.py").read_bytes()

_PROBE = (
    "import sys, json\n"
    "try:\n    import cloudpickle; cp = cloudpickle.__version__\n"
    "except ImportError:\n    cp = None\n"
    "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'cloudpickle': cp,"
    " 'executable': sys.executable}))\n"
)

Dependency = Job | ArrayJob


def new_job_id() -> str:
    """Sortable and unique without coordination: time plus randomness."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class Runtime:
    """A profile's live machinery: transport, backend, watcher."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.transport = get_transport(profile)
        self.backend = make_backend(profile, self.transport)
        self.watcher = Watcher(self)
        self.backend.on_change = self.watcher.nudge
        self.default_resources = parse_resources(profile.resources)
        self._env_checked = False
        self._lock = threading.Lock()
        self._dirty: set[Job] = set()
        self._dirty_lock = threading.Lock()
        self._arrays: dict[str, ArrayJob] = {}
        self._download_failures: dict[str, int] = {}
        self._blobs: BlobStore | None = None

    # -- where things are -------------------------------------------------------------------
    @property
    def blobs(self) -> BlobStore:
        """Large arguments, stored once per content in ``<remote_dir>/blobs``."""
        if self._blobs is None:
            self._blobs = BlobStore(self.transport, self.jobs_root().rsplit("/", 1)[0] + "/blobs")
        return self._blobs

    def python_argv(self) -> list[str]:
        """The job's interpreter: the profile's, else this kernel's Python on this machine."""
        if self.profile.python:
            argv = shlex.split(self.profile.python)
            return [self.transport.expand(argv[0]), *argv[1:]]
        return ["python3"] if self.profile.is_remote else [sys.executable]

    def jobs_root(self) -> str:
        """``<remote_dir>/jobs`` on the target; the local scheduler defaults to the data dir."""
        remote_dir = self.profile.remote_dir
        if not remote_dir:
            remote_dir = str(data_dir()) if self.profile.scheduler == "local" else "~/.clusterlab"
        return self.transport.expand(remote_dir).rstrip("/") + "/jobs"

    # -- checks -----------------------------------------------------------------------------
    def probe_python(self) -> dict[str, Any]:
        """Run the job's Python (after the setup lines) and report its version/cloudpickle."""
        script = "\n".join([*self.profile.setup, 'exec "$@"'])
        res = self.transport.script(script, *self.python_argv(), "-c", _PROBE)
        if res.returncode != 0:
            raise RemoteEnvironmentError(
                f"{self.python_argv()[0]} could not run on {self.transport.label} "
                f"(exit {res.returncode}: {res.err.strip()[-300:]}). Set the profile's python "
                "to an interpreter that exists there, or add setup lines such as "
                "'module load python/3.11'."
            )
        info: dict[str, Any] = json.loads(res.out.strip().splitlines()[-1])
        return info

    def ensure_environment(self) -> None:
        """Once per runtime: refuse early, with the fix, when remote Python lacks cloudpickle."""
        if self._env_checked or not self.profile.is_remote:
            return
        with self._lock:  # one probe even when many threads submit at once
            if not self._env_checked:
                self._probe_environment()
                self._env_checked = True

    def _probe_environment(self) -> None:
        info = self.probe_python()
        if info["cloudpickle"] is None:
            raise RemoteEnvironmentError(
                f"cloudpickle is not installed for {info['executable']} on "
                f"{self.transport.label}: run `{info['executable']} -m pip install --user "
                "cloudpickle` there, or point the profile's python at an environment with it"
            )
        local = ".".join(map(str, sys.version_info[:2]))
        remote = ".".join(info["python"].split(".")[:2])
        if remote != local:
            warnings.warn(
                f"the cluster's Python is {info['python']} but this kernel runs "
                f"{sys.version.split()[0]}: functions defined in the notebook may fail to "
                "load there. Use the same minor version on both sides.",
                stacklevel=5,
            )

    # -- submit -----------------------------------------------------------------------------
    def _spec(
        self, job_id: str, name: str, job_dir: str, resources: Resources, after: list[str]
    ) -> JobSpec:
        return JobSpec(
            job_id=job_id,
            name=name,
            job_dir=job_dir,
            resources=self.default_resources.merged(resources),
            python=self.python_argv(),
            setup=list(self.profile.setup),
            after=after,
        )

    def _profile_json(self) -> str:
        return json.dumps(self.profile.to_dict(), sort_keys=True)

    def submit(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        resources: Resources,
        name: str | None = None,
        after: Iterable[Dependency] = (),
    ) -> Job:
        """Serialize, stage and submit in one round trip; the job is watched from now on."""
        deps = Dependencies(self.transport, self.profile.name)
        for dep in after:
            deps.add(dep)
        args, kwargs, refs = deps.references(args, kwargs)
        args, kwargs, refs, blobs = self.blobs.externalize(args, kwargs, refs)
        natives, ids = deps.natives, deps.ids
        payload = dumps_call(fn, tuple(args), kwargs, refs)  # fails before anything remote
        self.ensure_environment()
        self.blobs.upload(blobs)
        job_id = new_job_id()
        name = name or str(getattr(fn, "__name__", "job"))
        job_dir = f"{self.jobs_root()}/{job_id}"
        spec = self._spec(job_id, name, job_dir, resources, natives)
        native = self.backend.submit(spec, {"payload.pkl": payload, "runner.py": RUNNER_SOURCE})
        job = Job(self, job_id, name, native, job_dir, spec.resources, after=ids)
        ledger.record(
            {
                "id": job_id,
                "kind": "job",
                "profile": self.profile.name,
                "profile_json": self._profile_json(),
                "name": name,
                "native_id": native,
                "job_dir": job_dir,
                "resources": spec.resources.to_dict(),
                "after": ids,
                "submitted": job.submitted_at,
                "state": JobState.PENDING.value,
                "reason": "submitted",
            }
        )
        live[job_id] = job
        self.watcher.add(job)
        return job

    def submit_array(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        resources: Resources,
        name: str | None = None,
        after: Iterable[Dependency] = (),
        chunksize: int | None = None,
        max_concurrent: int = 0,
        workers: int | None = None,
    ) -> ArrayJob:
        """One native array for all ``items`` (split only past the scheduler's size limit),
        cut into tasks by :func:`make_plan` unless ``chunksize``/``workers`` say otherwise."""
        check_options(chunksize, workers, max_concurrent)
        deps = Dependencies(self.transport, self.profile.name)
        for dep in after:
            deps.add(dep)
        name = name or str(getattr(fn, "__name__", "job"))
        calls: list[tuple[int, tuple[Any, ...], dict[str, Any], Any]] = []
        for index, item in enumerate(items):
            item_args, _, refs = deps.references([item], {})
            calls.append((index, tuple(item_args), {}, refs))
        fn_bytes = dumps_function(fn)  # fails before anything remote
        if calls:
            self.ensure_environment()
        plan = self._plan(len(calls), resources, chunksize, workers, max_concurrent)
        array = ArrayJob(self, new_job_id(), name, len(items), plan)
        self._submit_calls(array, plan, fn_bytes, calls, resources, deps, max_concurrent)
        return array

    def _plan(
        self,
        n: int,
        resources: Resources,
        chunksize: int | None,
        workers: int | None,
        max_concurrent: int,
    ) -> Plan:
        """The map's plan; asks the scheduler how many tasks fit only when it matters."""
        capacity = max_tasks = 0
        if n and chunksize is None and workers is None:
            if not max_concurrent:
                capacity = self.backend.capacity(self.default_resources.merged(resources))
            max_tasks = self.backend.max_array_size()
        plan = make_plan(
            n,
            chunksize=chunksize,
            workers=workers,
            max_concurrent=max_concurrent,
            capacity=capacity,
            max_tasks=max_tasks,
        )
        if plan.pool and plan.tasks > self.backend.max_array_size():
            raise ValueError(
                f"workers={plan.tasks} is more than one array may hold on this scheduler "
                f"({self.backend.max_array_size()} tasks): use fewer workers"
            )
        return plan

    def _submit_calls(
        self,
        array: ArrayJob,
        plan: Plan,
        fn_bytes: bytes,
        calls: list[tuple[int, tuple[Any, ...], dict[str, Any], Any]],
        resources: Resources,
        deps: Dependencies,
        max_concurrent: int,
    ) -> None:
        """Stage and submit ``calls`` as one or more native arrays of ``array``."""
        natives, ids = deps.natives, deps.ids
        tasks = [[calls[i] for i in share] for share in plan.shares()]
        task_files = [dumps_items(array.name, chunk) for chunk in tasks]
        max_tasks = max(1, len(tasks) if plan.pool else self.backend.max_array_size())
        starts = range(0, len(tasks), max_tasks)
        throttle = max_concurrent
        if throttle and len(starts) > 1:
            throttle = max(1, throttle // len(starts))  # the limit holds across the parts
        merged = self.default_resources.merged(resources)
        first_new = len(array.parts)
        for p, start in enumerate(starts):
            ptasks, pfiles = tasks[start : start + max_tasks], task_files[start : start + max_tasks]
            suffix = f"-{p}" if len(starts) > 1 else ""
            job_dir = f"{self.jobs_root()}/{new_job_id() if first_new else array.id}{suffix}"
            spec = self._spec(array.id, array.name, job_dir, resources, natives)
            spec.array = ArraySpec(len(ptasks), throttle)
            task_items = [[c[0] for c in chunk] for chunk in ptasks]
            files: dict[str, bytes] = {
                "fn.pkl": fn_bytes,
                "runner.py": RUNNER_SOURCE,
                "items/": b"",
                "results/": b"",
            }
            if plan.pool:
                files.update(pool_files(task_items))
            files.update({f"items/{t}.pkl": data for t, data in enumerate(pfiles)})
            native = self.backend.submit(spec, files)
            part = ArrayPart(array, native, job_dir, task_items, pool=plan.pool)
            for task, indices in enumerate(task_items):
                for index in indices:
                    part.jobs[index] = Job(
                        self,
                        f"{array.id}:{index}",
                        f"{array.name}[{index}]",
                        f"{native}_{task}",
                        job_dir,
                        merged,
                        after=ids,
                        array_id=array.id,
                        index=index,
                        task=task,
                    )
            array.parts.append(part)
        self._install(array, array.parts[first_new:], merged, ids)

    def _install(
        self, array: ArrayJob, new_parts: list[ArrayPart], resources: Resources, ids: list[str]
    ) -> None:
        """Put new parts' jobs into the array, record everything, start watching."""
        new = {i: job for part in new_parts for i, job in part.jobs.items()}
        if not array.elements:
            array.elements = [new[i] for i in sorted(new)]
        else:
            for i, job in new.items():
                array.elements[i] = job
        parts: list[dict[str, Any]] = [
            {
                "native_id": p.native_id,
                "job_dir": p.job_dir,
                "task_items": p.task_items,
                "pool": p.pool,
            }
            for p in array.parts
        ]
        ledger.record(
            {
                "id": array.id,
                "kind": "array",
                "profile": self.profile.name,
                "profile_json": self._profile_json(),
                "name": array.name,
                "native_id": ",".join(p["native_id"] for p in parts),
                "job_dir": parts[0]["job_dir"] if parts else "",
                "resources": resources.to_dict(),
                "after": ids,
                "size": array.size,
                "spec": {
                    "parts": parts,
                    "chunksize": array.chunksize,
                    "plan": array._plan.to_dict(),
                },
                "submitted": array.submitted_at,
                "state": array.state.value,
                "reason": array.reason,
                "counts": array.counts(),
            }
        )
        ledger.record_items(array.id, sorted(new), JobState.PENDING.value)
        live[array.id] = array
        self._arrays[array.id] = array
        for part in new_parts:
            self.watcher.add(part)

    def rerun(self, array: ArrayJob, indices: Sequence[int]) -> None:
        """Resubmit ``indices`` of ``array`` (same function, same items) as a new native array.

        The calls are read back from the cluster, so nothing has to stay in the kernel.
        """
        if not indices:
            return
        by_file: dict[str, set[int]] = {}
        for i in indices:
            job = array.elements[i]
            by_file.setdefault(f"{job.job_dir}/items/{array.block_of(i)}.pkl", set()).add(i)
        fn_path = f"{array.elements[indices[0]].job_dir}/fn.pkl"
        files = self.transport.read_files([fn_path, *by_file])
        gone = [p for p, data in files.items() if data is None]
        if gone:
            raise ClusterlabError(f"cannot rerun: {gone[0]} no longer exists (cleaned up?)")
        calls: list[tuple[int, tuple[Any, ...], dict[str, Any], Any]] = []
        for path, wanted in by_file.items():
            calls += [c for c in cloudpickle.loads(files[path] or b"") if c[0] in wanted]
        calls.sort(key=lambda c: c[0])
        resources = array.elements[indices[0]].resources
        deps = Dependencies(self.transport, self.profile.name)
        for dep_id in array.elements[indices[0]].after_ids:  # the same afterok as before
            dep = live.get(dep_id)
            if dep is not None:
                deps.add(dep)
        plan = self._plan(len(calls), resources, None, None, 0)
        self._submit_calls(array, plan, files[fn_path] or b"", calls, resources, deps, 0)

    # -- reattach ---------------------------------------------------------------------------
    def reattach(self, rec: ledger.JobRecord) -> Job | ArrayJob:
        """A job or array of another process, rebuilt from its ledger row and watched."""
        from .records import reattach

        return reattach(self, rec)

    # -- collect / cancel / files -----------------------------------------------------------
    def collect(self, finished: Sequence[Finished]) -> None:
        """Resolve finished jobs: results fetched in one round trip for all of them."""
        reads = [
            f
            for f in finished
            if f.outcome in ("ok", "error") or (f.outcome == "env_error" and not f.job.array_id)
        ]
        read_ids = {id(f) for f in reads}
        files: dict[str, bytes | None] = {}
        if reads:
            try:
                files = self.transport.read_files([f.job.result_path for f in reads])
            except Exception as exc:
                # A dropped connection: the next poll sees them finished again and retries;
                # only a download that keeps failing settles them LOST, with the reason.
                for f in finished:
                    tries = self._download_failures.get(f.job.id, 0) + 1
                    self._download_failures[f.job.id] = tries
                    if tries >= DOWNLOAD_TRIES:
                        self._fail(f.job, JobState.LOST, f"could not download the result: {exc}")
                    else:
                        f.job._set_state(
                            f.job.state, f"downloading its result failed, retrying: {exc}"
                        )
                return
        resolutions: list[tuple[Job, str, Any]] = []  # (job, "result"|"exception", value)
        # Jobs cancelled for a failed dependency go last: by then the dependency's own
        # state (settled in the same poll) is set and the reason can name how it ended.
        finished = sorted(finished, key=lambda f: f.decision.reason == "dependency failed")
        for f in finished:
            if f.decision.reason == "dependency failed":
                f.decision.reason = failure_reason(f.job)
            job = f.job
            data = files.get(job.result_path) if id(f) in read_ids else None
            if data is not None:
                ok, value = load_result(data)
                if ok:
                    job._set_state(JobState.COMPLETED, "")
                    resolutions.append((job, "result", value))
                else:
                    summary = f"{type(value).__name__}: {value}".splitlines()[0][:300]
                    job._set_state(JobState.FAILED, f"raised {summary}")
                    resolutions.append((job, "exception", value))
            elif f.outcome == "env_error":
                job._set_state(JobState.FAILED, f.decision.reason)
                resolutions.append((job, "exception", RemoteEnvironmentError(f.decision.reason)))
            else:
                reason = f.decision.reason or "it ended without writing a result"
                job._set_state(f.decision.state, reason)
                resolutions.append((job, "fail", (f.decision.state, reason)))
        self.flush()  # the ledger is current before anyone waiting on a result wakes up
        for job, kind, value in resolutions:
            if kind == "fail":
                self._fail(job, *value)
            elif kind == "result":
                job._resolve(value)
            else:
                job._resolve(exception=value)

    def _fail(self, job: Job, state: JobState, reason: str) -> None:
        job._set_state(state, reason)
        if job.done():
            return
        if state == JobState.CANCELLED:
            job._cancel_future()
            return
        tail = ""
        try:
            tail = job.stderr().strip()[-2000:]
        except Exception as exc:
            tail = f"(stderr unavailable: {exc})"
        detail = f"\n--- last lines of the job's stderr ---\n{tail}" if tail else ""
        job._resolve(
            exception=JobError(
                f"job {job.id} ({job.name}) on {self.profile.name} ended {state}: {reason}{detail}",
                job_id=job.id,
                state=state.value,
                reason=reason,
            )
        )

    def cancel(self, jobs: Sequence[Job], targets: Sequence[WatchTarget] = ()) -> None:
        """Cancel scheduler jobs (``targets`` default to the jobs' own); futures end CANCELLED."""
        pending = [j for j in jobs if not j.done()]
        if not targets:
            pooled = [j for j in pending if self._pooled(j)]
            if pooled:
                self._cancel_pooled(pooled)
            unique = {
                j.native_id: WatchTarget(j.native_id, j.job_dir)
                for j in pending
                if not self._pooled(j)
            }
            targets = list(unique.values())
        if targets:
            self.backend.cancel(targets)
        for job in pending:
            job._set_state(JobState.CANCELLED, "cancelled by you")
            job._cancel_future()
            if not job.array_id:
                self.watcher.discard(job)
        self.flush()

    def _pooled(self, job: Job) -> bool:
        array = self._arrays.get(job.array_id)
        return bool(array and any(p.pool and job.index in p.jobs for p in array.parts))

    def _cancel_pooled(self, jobs: Sequence[Job]) -> None:
        """Pool items are claimed ``cancelled`` so no worker starts them; one already
        running finishes on its worker (cancel the whole array to stop the workers)."""
        by_dir: dict[str, list[str]] = {}
        for job in jobs:
            by_dir.setdefault(job.job_dir, []).append(str(job.index))
        for job_dir, indices in by_dir.items():
            res = self.transport.script(CANCEL_CLAIMS, job_dir, *indices)
            if res.returncode != 0:
                raise ClusterlabError(f"could not cancel items in {job_dir}: {res.err.strip()}")

    def read_log(self, job: Job, name: str) -> str:
        """A file of the job dir as text ('' when it does not exist yet)."""
        path = f"{job.job_dir}/{name}"
        data = self.transport.read_files([path]).get(path)
        return (data or b"").decode("utf-8", "replace")

    def cleanup(self, target: Job | ArrayJob) -> None:
        """Delete job dirs on the cluster, only below this profile's jobs root."""
        if not target.done():
            raise ClusterlabError(
                f"{target.id} has not finished: cancel it first, then clean up its files"
            )
        if isinstance(target, ArrayJob):
            dirs = [p.job_dir for p in target.parts]
        elif target.array_id:
            raise ClusterlabError("clean up the whole array (arr.cleanup()), not one item")
        else:
            dirs = [target.job_dir]
        remove_dirs(self, dirs)
        ledger.mark_cleaned(target.id)

    # -- ledger -----------------------------------------------------------------------------
    def mark_dirty(self, job: Job) -> None:
        with self._dirty_lock:
            self._dirty.add(job)

    def flush(self) -> None:
        """Write every changed job (and the arrays they belong to) in one transaction."""
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        jobs_rows = []
        item_rows = []
        arrays: set[str] = set()
        for job in dirty:
            if job.array_id:
                arrays.add(job.array_id)
                item_rows.append(
                    (
                        job.state.value,
                        job.reason,
                        job.started_at,
                        job.ended_at,
                        job.array_id,
                        job.index,
                    )
                )
            else:
                jobs_rows.append(
                    (job.state.value, job.reason, job.started_at, job.ended_at, "{}", job.id)
                )
        for array_id in arrays:
            array = self._arrays[array_id]
            started = [j.started_at for j in array.elements if j.started_at]
            ended = [j.ended_at for j in array.elements if j.ended_at]
            jobs_rows.append(
                (
                    array.state.value,
                    array.reason,
                    min(started) if started else None,
                    max(ended) if ended and array.state.finished else None,
                    json.dumps(array.counts()),
                    array.id,
                )
            )
        ledger.update_items(item_rows)
        ledger.update_jobs(jobs_rows)


def remove_dirs(runtime: Runtime, dirs: Sequence[str]) -> None:
    """``rm -rf`` job dirs, refusing anything outside ``<remote_dir>/jobs/``."""
    root = runtime.jobs_root().rstrip("/") + "/"
    for d in dirs:
        rest = d[len(root) :] if d.startswith(root) else ""
        if not rest or "/" in rest or rest in (".", ".."):
            raise ClusterlabError(f"refusing to delete {d!r}: not a job dir under {root}")
    res = runtime.transport.run(["rm", "-rf", "--", *dirs])
    if res.returncode != 0:
        raise ClusterlabError(f"could not delete {', '.join(dirs)}: {res.err.strip()}")


DOWNLOAD_TRIES = 3  # polls that may fail to fetch a finished job's result before it is LOST

_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def get_runtime(profile: Profile) -> Runtime:
    """The runtime for this profile's current settings (an edited profile gets a new one)."""
    key = json.dumps(profile.to_dict(), sort_keys=True, default=str)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = Runtime(profile)
        return runtime


def submit_call(
    profile: Profile,
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    resources: Resources | None = None,
    name: str | None = None,
    after: Iterable[Dependency] = (),
) -> Job:
    """Submit ``fn(*args, **kwargs)`` with ``profile`` (the one entry point for every API)."""
    if not callable(fn):
        raise SubmitError(f"{fn!r} is not callable: submit a function")
    return get_runtime(profile).submit(fn, args, kwargs, resources or Resources(), name, after)


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
) -> ArrayJob:
    """Submit ``fn(item)`` for every item as one array job (see :mod:`clusterlab.plan`)."""
    if not callable(fn):
        raise SubmitError(f"{fn!r} is not callable: map a function")
    items = list(items)
    return get_runtime(profile).submit_array(
        fn, items, resources or Resources(), name, after, chunksize, max_concurrent, workers
    )
