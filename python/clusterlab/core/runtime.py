"""The wiring of a profile's live machinery, independent of any scheduler.

A :class:`Runtime` exists once per profile (per its settings) in a process: it owns the
profile's transport (one SSH connection), backend, watcher, result collector and ledger
writer, so every job of a profile shares them however it was submitted (decorator,
Executor, map, magic). What happens to jobs lives in the modules it wires: submission in
:mod:`.submission.submit`, watching in :mod:`.watching.watcher`, collection in
:mod:`.watching.collect`, ledger rows in :mod:`.ledger.records`, reattach in
:mod:`.ledger.reattach`, pool mode in :mod:`.watching.workerpool`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

from ..backends import make_backend
from ..backends.base import WatchTarget
from ..common import kinds
from ..common.efficiency import Accounted
from ..common.errors import ClusterlabError
from ..common.states import JobState
from ..config.profile import Profile
from ..config.resources import parse_resources
from ..transports import get_transport
from .environment.remote import RemoteEnvironment
from .ledger import records
from .ledger import store as ledger
from .ledger.reattach import reattach
from .model.array import ArrayJob
from .model.job import Job
from .submission import plans
from .submission.batcher import Batcher
from .submission.rerun import rerun
from .submission.retry import Retrier
from .transfer.blobs import BlobStore
from .transfer.staging import jobs_root
from .watching import workerpool
from .watching.agenthandle import PushHandle
from .watching.collect import Collector
from .watching.follow import STREAMS, follow_output
from .watching.watcher import Watcher


class Runtime:
    """A profile's live machinery: transport, backend, watcher, collector, ledger writer.

    It is the :class:`~.model.host.JobHost` of the jobs submitted through it: they ask it
    to cancel, clean up, rerun and follow output, and nothing else of it."""

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
        self.retrier = Retrier(self)  # retries=N: jobs submitted again after outside failures
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
        """``<remote_dir>/jobs`` on the target (see :func:`.transfer.staging.jobs_root`)."""
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
        return reattach(self, rec, self.collector.fail)

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
                workerpool.cancel_items(self.transport, pooled)
            unique = {
                j.native_id: WatchTarget(j.native_id, j.job_dir)
                for j in pending
                if not self._pooled(j)
            }
            targets = list(unique.values())
        if targets:
            self.backend.cancel(targets)
        for job in pending:
            job.set_state(JobState.CANCELLED, "cancelled by you")
            job.cancel_future()
            if not job.array_id:
                self.watcher.discard(job)
        self.flush()

    def rerun(self, array: ArrayJob, indices: Sequence[int]) -> None:
        """Resubmit items ``indices`` of ``array`` (see :mod:`.submission.rerun`)."""
        rerun(self, array, indices)

    def follow_output(
        self, job: Job, streams: tuple[str, ...] = STREAMS
    ) -> Iterator[tuple[str, str]]:
        """``(stream, text)`` as ``job`` writes it, read on the watcher's thread."""
        return follow_output(self.watcher, self.transport, job, streams)

    def accounted(self, native_ids: Sequence[str]) -> Mapping[str, Accounted]:
        """The scheduler's accounting of finished jobs (the kind's reader, one command)."""
        kind = kinds.get(self.profile.scheduler)
        reader = kind.accountant()
        if reader is None:
            raise ClusterlabError(f"clusterlab cannot read {kind.label}'s accounting")
        found: Mapping[str, Accounted] = reader(self.backend, native_ids)
        return found

    def task_id(self, native_id: str, task: int) -> str:
        """The scheduler's id of ``task`` of the array ``native_id``."""
        return self.backend.task_id(native_id, task)

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
        plans.drop(target.id)  # a job whose end nobody watched kept what a rerun needed


def remove_dirs(runtime: Runtime, dirs: Sequence[str]) -> None:
    """``rm -rf`` job dirs, refusing anything outside ``<remote_dir>/jobs/``."""
    root = runtime.jobs_root().rstrip("/") + "/"
    for d in dirs:
        rest = d[len(root) :] if d.startswith(root) else ""
        if not rest or "/" in rest or rest in (".", ".."):
            raise ClusterlabError(f"refusing to delete {d!r}: not a job dir under {root}")
    # A job's result can arrive before its script ended, and the script's last files
    # (Grid Engine's success mark, the scheduler's output) can land while rm runs: rm
    # then says "Directory not empty". Those writes stop within moments, so try again.
    for pause in (0.25, 0.5, 1.0, None):
        res = runtime.transport.run(["rm", "-rf", "--", *dirs])
        if res.returncode == 0:
            return
        if pause is not None:
            time.sleep(pause)
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
            and not old.watcher.has_work()
            and old.batcher.idle()
            and old.backend.idle()
        ):
            old.backend.close()
            old.push.close()
            del _runtimes[key]
