"""The wiring of a profile's live machinery, independent of any scheduler.

A :class:`Runtime` exists once per profile (per its settings) in a process: it owns the
profile's transport (one SSH connection), backend, watcher, result collector and ledger
writer, so every job of a profile shares them however it was submitted (decorator,
Executor, map, magic). What happens to jobs lives in the modules it wires: submission in
:mod:`.submit`, watching in :mod:`.watcher`, collection in :mod:`.collect`, ledger rows
and reattach in :mod:`.records`, pool mode in :mod:`.pool`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources as importlib_resources

from ..backends import make_backend
from ..backends.base import WatchTarget
from ..common import kinds as registry
from ..common.errors import ClusterlabError
from ..common.states import JobState
from ..config.paths import data_dir
from ..config.profile import Profile
from ..config.resources import parse_resources
from ..transports import get_transport
from . import ledger, pool, records
from .array import ArrayJob
from .batcher import Batcher
from .blobs import BlobStore
from .collect import Collector
from .environment import RemoteEnvironment
from .job import Job
from .pushhandle import PushHandle
from .watcher import Watcher

RUNNER_SOURCE = importlib_resources.files("clusterlab.remote").joinpath("runner.py").read_bytes()


def new_job_id() -> str:
    """Sortable and unique without coordination: time plus randomness."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def jobs_root(profile: Profile, expand: Callable[[str], str]) -> str:
    """``<remote_dir>/jobs``, ``~`` expanded by ``expand``. Schedulers that run jobs on
    other machines default to ``~/.clusterlab`` (home is shared with compute nodes on
    clusters); one that only runs them here (``local``) to this machine's data dir."""
    remote_dir = profile.remote_dir
    if not remote_dir:
        elsewhere = registry.get(profile.scheduler).remote
        remote_dir = "~/.clusterlab" if elsewhere else str(data_dir())
    return expand(remote_dir).rstrip("/") + "/jobs"


class Runtime:
    """A profile's live machinery: transport, backend, watcher, collector, ledger writer."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.transport = get_transport(profile)
        self.backend = make_backend(profile, self.transport)
        self.environment = RemoteEnvironment(profile, self.transport)
        self.default_resources = parse_resources(profile.resources)
        self.arrays: dict[str, ArrayJob] = {}  # arrays of this runtime, by id
        self.ledger = records.LedgerWriter(self.arrays)
        self.collector = Collector(self)
        self.watcher = Watcher(self)
        self.push = PushHandle(self)  # the connection's status agent, from the first job
        self.backend.on_change = self.watcher.nudge
        self._blobs: BlobStore | None = None
        self.batcher = Batcher(self)  # submit() hands its jobs to this thread

    # -- where things are -------------------------------------------------------------------
    @property
    def blobs(self) -> BlobStore:
        """Large arguments, stored once per content in ``<remote_dir>/blobs``."""
        if self._blobs is None:
            self._blobs = BlobStore(self.transport, self.jobs_root().rsplit("/", 1)[0] + "/blobs")
        return self._blobs

    def jobs_root(self) -> str:
        """``<remote_dir>/jobs`` on the target (see :func:`jobs_root`)."""
        return jobs_root(self.profile, self.transport.expand)

    def ensure_ready(self, environment: str | None = None) -> None:
        """Once per runtime, before the first submission: the jobs root is private and the
        remote Python can load what we send (:meth:`RemoteEnvironment.ensure`); a
        ``sync`` environment is built or found."""
        self.environment.ensure(self.jobs_root(), environment, self.blobs)

    # -- ledger -----------------------------------------------------------------------------
    def mark_dirty(self, job: Job) -> None:
        """A job's state changed: write it at the next :meth:`flush`."""
        self.ledger.mark(job)

    def flush(self) -> None:
        """Write every changed job (and the arrays they belong to) in one transaction."""
        self.ledger.flush()

    def reattach(self, rec: ledger.JobRecord) -> Job | ArrayJob:
        """A job or array of another process, rebuilt from its ledger row and watched."""
        return records.reattach(self, rec, self.collector.fail)

    # -- cancel / files ---------------------------------------------------------------------
    def cancel(self, jobs: Sequence[Job], targets: Sequence[WatchTarget] = ()) -> None:
        """Cancel scheduler jobs (``targets`` default to the jobs' own); futures end CANCELLED."""
        pending = [j for j in jobs if not j.done()]
        # Not yet accepted by the scheduler: the submission thread drops or cancels them.
        submitting = JobState.SUBMITTING
        pending = [j for j in pending if not (j.state == submitting and self.batcher.cancel(j))]
        if not targets:
            pooled = [j for j in pending if self._pooled(j)]
            if pooled:
                pool.cancel_items(self.transport, pooled)
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
        array = self.arrays.get(job.array_id)
        return bool(array and any(p.pool and job.index in p.jobs for p in array.parts))

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


_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def get_runtime(profile: Profile) -> Runtime:
    """The runtime for this profile's current settings (an edited profile gets a new one)."""
    key = json.dumps(profile.to_dict(), sort_keys=True, default=str)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            _retire_idle(profile.name)
            runtime = _runtimes[key] = Runtime(profile)
        return runtime


def _retire_idle(name: str) -> None:
    """Earlier versions of an edited profile stop their threads once nothing of theirs is
    in flight (their objects keep working: a backend restarts its thread if used again)."""
    for key, old in list(_runtimes.items()):
        if (
            old.profile.name == name
            and old.watcher.active == 0
            and old.batcher.idle()
            and old.backend.idle()
        ):
            old.backend.close()
            old.push.close()
            del _runtimes[key]
