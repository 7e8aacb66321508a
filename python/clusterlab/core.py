"""The executor core: submit, collect and cancel, independent of any scheduler.

A :class:`Runtime` exists once per profile (per its settings) in a process: it owns the
profile's transport (one SSH connection), backend and watcher, so every job of a profile
shares them however it was submitted (decorator, Executor, magic).
"""

from __future__ import annotations

import concurrent.futures
import json
import secrets
import shlex
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib import resources as importlib_resources
from typing import Any

from .backends import make_backend
from .backends.base import JobSpec
from .errors import JobError, RemoteEnvironmentError, SubmitError
from .job import Job
from .paths import data_dir
from .payload import dumps_call, load_result
from .profile import Profile
from .resources import Resources, parse_resources
from .settle import Decision
from .states import JobState
from .transports import get_transport
from .watcher import Watcher

RUNNER_SOURCE = importlib_resources.files("clusterlab").joinpath("runner.py").read_bytes()

_PROBE = (
    "import sys, json\n"
    "try:\n    import cloudpickle; cp = cloudpickle.__version__\n"
    "except ImportError:\n    cp = None\n"
    "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'cloudpickle': cp,"
    " 'executable': sys.executable}))\n"
)


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
        self.default_resources = parse_resources(profile.resources)
        self._env_checked = False
        self._lock = threading.Lock()

    # -- where things are -------------------------------------------------------------------
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

    # -- submit / collect / cancel ----------------------------------------------------------
    def submit(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        resources: Resources,
        name: str | None = None,
    ) -> Job:
        """Serialize, stage and submit in one round trip; the job is watched from now on."""
        payload = dumps_call(fn, tuple(args), kwargs)  # fails before anything remote happens
        self.ensure_environment()
        job_id = new_job_id()
        name = name or str(getattr(fn, "__name__", "job"))
        job_dir = f"{self.jobs_root()}/{job_id}"
        spec = JobSpec(
            job_id=job_id,
            name=name,
            job_dir=job_dir,
            resources=self.default_resources.merged(resources),
            python=self.python_argv(),
            setup=list(self.profile.setup),
        )
        native = self.backend.submit(spec, {"payload.pkl": payload, "runner.py": RUNNER_SOURCE})
        job = Job(self, job_id, name, native, job_dir, spec.resources)
        job._set_state(JobState.PENDING, "submitted")
        self.watcher.add(job)
        return job

    def collect(self, finished: Sequence[tuple[Job, Decision, bool]]) -> None:
        """Resolve finished jobs: results fetched in one round trip for all of them."""
        with_result = [job for job, _, has_result in finished if has_result]
        files: dict[str, bytes | None] = {}
        if with_result:
            try:
                files = self.transport.read_files([f"{j.job_dir}/result.pkl" for j in with_result])
            except Exception as exc:
                for job, _, _ in finished:
                    self._fail(job, JobState.LOST, f"could not download the result: {exc}")
                return
        for job, decision, has_result in finished:
            data = files.get(f"{job.job_dir}/result.pkl") if has_result else None
            if data is not None:
                ok, value = load_result(data)
                if ok:
                    job._set_state(JobState.COMPLETED, "")
                    if not job.done():
                        job.set_result(value)
                    continue
                summary = f"{type(value).__name__}: {value}".splitlines()[0][:300]
                job._set_state(JobState.FAILED, f"raised {summary}")
                if not job.done():
                    job.set_exception(value)
                continue
            reason = decision.reason or "it ended without writing a result"
            self._fail(job, decision.state, reason)

    def _fail(self, job: Job, state: JobState, reason: str) -> None:
        job._set_state(state, reason)
        if job.done():
            return
        if state == JobState.CANCELLED:
            concurrent.futures.Future.cancel(job)
            return
        tail = ""
        try:
            tail = job.stderr().strip()[-2000:]
        except Exception as exc:
            tail = f"(stderr unavailable: {exc})"
        detail = f"\n--- last lines of the job's stderr ---\n{tail}" if tail else ""
        job.set_exception(
            JobError(
                f"job {job.id} ({job.name}) on {self.profile.name} ended {state}: {reason}{detail}",
                job_id=job.id,
                state=state.value,
                reason=reason,
            )
        )

    def cancel(self, job: Job) -> None:
        """Cancel the scheduler job; the watcher stops following it."""
        self.backend.cancel([job.native_id])
        self.watcher.discard(job)

    def read_log(self, job: Job, name: str) -> str:
        """A file of the job dir as text ('' when it does not exist yet)."""
        path = f"{job.job_dir}/{name}"
        data = self.transport.read_files([path]).get(path)
        return (data or b"").decode("utf-8", "replace")


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
) -> Job:
    """Submit ``fn(*args, **kwargs)`` with ``profile`` (the one entry point for every API)."""
    if not callable(fn):
        raise SubmitError(f"{fn!r} is not callable: submit a function")
    return get_runtime(profile).submit(fn, args, kwargs, resources or Resources(), name)
