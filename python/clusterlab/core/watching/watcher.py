"""One background watcher per cluster: a single poll covers every active job and array.

Each poll is one backend call (for SLURM: one ``squeue`` plus every status file, in one
SSH round trip). The interval starts short after a submission or a change and backs off
with jitter up to the profile's ``poll_interval``, so a thousand idle jobs cost the
scheduler one cheap query every few seconds and the kernel nothing.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...backends.base import Observation, WatchTarget
from ...common.jobdir import StatusInfo
from ...common.states import JobState
from ...common.statusgrowth import GrowingStatus
from ..model.array import ArrayPart
from ..model.job import Job
from ..model.leanfuture import is_done
from ..model.settle import PRESENT, Absence, Decision, decide, decide_item
from .collect import Finished, deleted_for_dependency
from .follow import FOLLOW_INTERVAL, Follower
from .followers import Followers
from .sharedpoll import for_backend
from .workerpool import observe_pool

if TYPE_CHECKING:
    from ..runtime import Runtime

MIN_INTERVAL = 0.25
BACKOFF = 1.5
JITTER = 0.1
TASKS_PER_SECOND = 500  # each 500 active scheduler tasks add a second to the shortest interval

Unit = Job | ArrayPart


class Watcher:
    """Polls the runtime's active jobs and arrays on a daemon thread until none are left."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.max_interval = max(runtime.profile.poll_interval, MIN_INTERVAL)
        self.polls = 0
        self._units: dict[str, Unit] = {}
        self._missing: dict[str, Absence] = {}
        # What each unit (its items, for arrays) looked like at the last poll, so a poll
        # that brings nothing new costs a comparison per job (see _unchanged).
        self._seen: dict[str, dict[int, tuple[object, ...]]] = {}
        self._parsed: dict[str, dict[int, GrowingStatus]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval = MIN_INTERVAL
        self._nudged = False
        self.followers = Followers(runtime)
        # One scheduler query per interval for every watcher of this cluster on this
        # machine (None: this backend polls on its own); see sharedpoll.
        self.shared = for_backend(runtime.backend, runtime.profile, self.max_interval)
        # The last scheduler view of each unit (by native id): what a pushed status line
        # is combined with (core/watching/agentlink.py), as only the scheduler knows
        # pending reasons.
        self.last_seen: dict[str, Observation] = {}
        self._settle_lock = threading.RLock()  # a poll and a pushed line settle in turn

    @staticmethod
    def _key(unit: Unit) -> str:
        return unit.watch_key if isinstance(unit, ArrayPart) else unit.id

    def add(self, unit: Unit, absence: Absence = PRESENT) -> None:
        """Watch a job or an array part from now on, and poll soon (``absence``: how long a
        reattached job was already missing)."""
        self.add_many([unit], absence)

    def add_many(self, units: list[Unit], absence: Absence = PRESENT) -> None:
        """:meth:`add` for a batch (the submission thread's): one wake-up, one agent write."""
        if not units:
            return
        with self._lock:
            for unit in units:
                self._units[self._key(unit)] = unit
                if absence != PRESENT:
                    self._missing[self._key(unit)] = absence
            self._interval = MIN_INTERVAL
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run,
                    name=f"clusterlab-watch-{self.runtime.profile.name}",
                    daemon=True,
                )
                self._thread.start()
        self._wake.set()
        self.runtime.push.watch_many([unit.job_dir for unit in units])
        self.followers.push_waiting()

    def nudge(self) -> None:
        """Something ended (the backend saw it): poll soon, but never sooner than the
        shortest interval after the last poll, so a burst of endings is one poll."""
        self._nudged = True
        self._wake.set()

    def has_work(self) -> bool:
        """A watched job has not ended (one that just ended stays listed a moment)."""
        with self._lock:
            units = list(self._units.values())
        return any(not job.done() for unit in units for job in _jobs_of(unit))

    def discard(self, unit: Unit) -> None:
        with self._lock:
            known = self._units.pop(self._key(unit), None)
            self._missing.pop(self._key(unit), None)
            self._seen.pop(self._key(unit), None)
            self._parsed.pop(self._key(unit), None)
            self.last_seen.pop(unit.native_id, None)
        if known is not None:
            self.runtime.push.unwatch(unit.job_dir)

    def reset(self) -> None:
        """Poll now and back off from the shortest interval again (the status agent
        stopped: what it would have pushed must be polled for)."""
        self._interval = MIN_INTERVAL
        self._wake.set()

    def units_in(self, job_dir: str) -> list[Unit]:
        """The watched jobs and array parts whose job dir is ``job_dir``."""
        with self._lock:
            return [u for u in self._units.values() if u.job_dir == job_dir]

    def follow(self, job: Job, streams: tuple[str, ...]) -> Follower:
        """Bring ``job``'s new output back after every poll until :meth:`unfollow`."""
        return self.attach(Follower(job, streams))

    def attach(self, follower: Follower) -> Follower:
        """:meth:`follow` with a follower made by the caller (see :class:`.follow.Follower`)."""
        self.followers.attach(follower)
        self._wake.set()
        return follower

    def unfollow(self, follower: Follower) -> None:
        self.followers.remove(follower)

    @property
    def active(self) -> int:
        return len(self._units)

    def _run(self) -> None:
        while True:
            with self._lock:
                units = list(self._units.values())
                if not units:
                    self._thread = None
                    if self.shared:
                        self.shared.release()  # another watcher takes the lease at once
                    return
            polled = time.monotonic()
            try:
                changed = self.poll_once(units)
            except Exception as exc:  # never let the thread die with jobs unwatched
                print(f"clusterlab: watcher error (retrying): {exc!r}", file=sys.stderr)
                changed = False
            if self.followers:
                self.followers.read()
            if self.runtime.push.pushing:  # ends are pushed: ask the scheduler the rest
                self._interval = self.max_interval
            elif changed:
                self._interval = self._floor(units)
            else:
                self._interval = min(self._interval * BACKOFF, self.max_interval)
            if self.followers.polled():  # output read here: whatever poll_interval says
                self._interval = min(self._interval, FOLLOW_INTERVAL)
            delay = self._interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
            self._wake.wait(delay)
            self._wake.clear()
            if self._nudged:
                self._nudged = False
                gap = self._floor(units) - (time.monotonic() - polled)
                if gap > 0:
                    time.sleep(gap)

    def _floor(self, units: list[Unit]) -> float:
        """The shortest interval while things change: longer when many scheduler tasks are
        active (each is a line of squeue and a status file to read), so a big array does
        not turn the watcher into a busy loop on the login node."""
        tasks = sum(len(u.task_items) if isinstance(u, ArrayPart) else 1 for u in units)
        return min(self.max_interval, MIN_INTERVAL + tasks / TASKS_PER_SECOND)

    def poll_once(self, units: list[Unit]) -> bool:
        """Observe ``units`` once, update them, collect what finished; True if any changed."""
        targets = [WatchTarget(u.native_id, u.job_dir, isinstance(u, ArrayPart)) for u in units]
        try:
            if self.shared:
                observations = self.shared.poll(targets)
            else:
                observations = self.runtime.backend.poll(targets)
        except Exception as exc:  # keep watching through a dropped connection
            self._interval = min(self._interval * BACKOFF * 2, self.max_interval * 4)
            for unit in units:
                for job in _jobs_of(unit):
                    if not job.done():
                        job.set_state(job.state, f"cannot reach the scheduler, retrying ({exc})")
            self.runtime.flush()
            return False
        self.polls += 1
        self.last_seen.update(observations)
        return self.settle(units, observations)

    def settle(self, units: list[Unit], observations: dict[str, Observation]) -> bool:
        """Update ``units`` from their observations (a poll's, or a pushed status line's)
        and collect what finished; True if any changed."""
        with self._settle_lock:
            return self._settle(units, observations)

    def _settle(self, units: list[Unit], observations: dict[str, Observation]) -> bool:
        finished: list[Finished] = []
        to_cancel: list[WatchTarget] = []
        # Others' jobs changed (this watcher polls for the machine): keep the interval short.
        changed = bool(self.shared and self.shared.news)
        for unit in units:
            obs = observations.get(unit.native_id)
            if obs is None:  # the machine's poller has not seen it yet: next time
                continue
            if isinstance(unit, ArrayPart):
                changed |= self._observe_part(unit, obs, finished, to_cancel)
            else:
                changed |= self._observe_job(unit, obs, finished, to_cancel)
        if to_cancel:
            try:
                self.runtime.backend.cancel(to_cancel)
            except Exception as exc:
                natives = [t.native_id for t in to_cancel]
                print(f"clusterlab: could not cancel {natives}: {exc}", file=sys.stderr)
        if finished:
            self.runtime.collector.collect(finished)
            changed = True
        for unit in units:
            if isinstance(unit, ArrayPart):
                if all(is_done(j) for j in unit.jobs.values()):
                    self.discard(unit)
            elif is_done(unit):
                self.discard(unit)
        self.runtime.flush()
        return changed

    def _observe_job(
        self, job: Job, obs: Observation, finished: list[Finished], to_cancel: list[WatchTarget]
    ) -> bool:
        retrier = self.runtime.retrier
        if is_done(job) or retrier.waiting(job):  # (waiting: to be submitted again)
            return False
        seen = self._seen.setdefault(job.id, {})
        if self._unchanged(seen, 0, obs, job.state):
            return False
        status = retrier.current(job, self._parse(job.id, 0, obs.status))
        job.host = status.host or job.host
        # The runner's own clock, not when we happened to look.
        job.started_at = job.started_at or status.started
        job.ended_at = job.ended_at or status.finished
        job.take_report(status)
        decision = decide(
            job.state, obs, status, self._missing.get(job.id, PRESENT), job.resources.time_s
        )
        decision = deleted_for_dependency(job, decision, status.started is not None)
        if not decision.state.finished and retrier.stopped_to_requeue(job, obs.state, status):
            decision = Decision(JobState.FAILED, status.requeued)  # requeue=True, pod deleted
        if decision.state.finished and retrier.take(job, decision, status):  # retries=N
            self._missing.pop(job.id, None)
            return True
        self._missing[job.id] = decision.absence
        target = WatchTarget(job.native_id, job.job_dir)
        changed = self._apply(
            job, decision, status.outcome, finished, to_cancel, target, status.digest, status.size
        )
        if finished and finished[-1].job is job:
            finished[-1].data = obs.result  # the poll carried its result: no read needed
            self.followers.ended(job, obs.log_sizes)  # (then a follower may read no more)
        self._remember(seen, 0, obs, job.state)
        return changed

    def _observe_part(
        self,
        part: ArrayPart,
        obs: Observation,
        finished: list[Finished],
        to_cancel: list[WatchTarget],
    ) -> bool:
        target = WatchTarget(part.native_id, part.job_dir, True)
        if part.pool:
            return observe_pool(
                part,
                obs,
                self.runtime.backend.task_id,
                lambda job, decision, outcome, digest, size: self._apply(
                    job, decision, outcome, finished, to_cancel, target, digest, size
                ),
            )
        changed = False
        seen = self._seen.setdefault(part.watch_key, {})
        for task, indices in enumerate(part.task_items):
            task_obs = obs.tasks.get(task) or obs.unlisted_task()
            task_status: StatusInfo | None = None  # parsed only if an item needs it
            for index in indices:
                job = part.jobs[index]
                if is_done(job) or self._unchanged(seen, index, task_obs, job.state):
                    continue
                if task_status is None:
                    task_status = self._parse(part.watch_key, task, task_obs.status)
                item = task_status.items.get(index)
                job.host = task_status.host or job.host
                job.started_at = job.started_at or (item.started if item else None)
                job.ended_at = job.ended_at or (item.finished if item else None)
                if item is not None:
                    job.take_report(item)
                decision = decide_item(
                    job.state,
                    index,
                    task_obs,
                    task_status,
                    part.missing.get(index, PRESENT),
                    job.resources.time_s,
                )
                started = item is not None and item.started is not None
                decision = deleted_for_dependency(job, decision, started)
                part.missing[index] = decision.absence
                report = item if item and item.finished else task_status
                changed |= self._apply(
                    job,
                    decision,
                    report.outcome,
                    finished,
                    to_cancel,
                    target,
                    report.digest,
                    report.size,
                )
                self._remember(seen, index, task_obs, job.state)
        return changed

    @staticmethod
    def _unchanged(
        seen: dict[int, tuple[object, ...]], sub: int, obs: Observation, state: JobState
    ) -> bool:
        """Whether a job (``sub``: an array item's index, 0 for a job) was seen exactly
        like this at the last poll and its state has not moved since: deciding again would
        give the same answer. A job the queue does not list is always decided again (how
        long it has been missing decides whether it is lost)."""
        if obs.state is None or obs.state == JobState.COMPLETED:
            return False
        return seen.get(sub) == _fingerprint(obs, state)

    @staticmethod
    def _remember(
        seen: dict[int, tuple[object, ...]], sub: int, obs: Observation, state: JobState
    ) -> None:
        seen[sub] = _fingerprint(obs, state)

    def _parse(self, key: str, sub: int, data: bytes | None) -> StatusInfo:
        """The status file's meaning, parsing only what changed: most polls find it as it
        was, and a long array task's file grows by lines, of which only the new ones are
        parsed (common/statusgrowth.py)."""
        cache = self._parsed.setdefault(key, {})
        growing = cache.get(sub)
        if growing is None:
            growing = cache[sub] = GrowingStatus()
        return growing.parse(data)

    def _apply(
        self,
        job: Job,
        decision: Decision,
        outcome: str,
        finished: list[Finished],
        to_cancel: list[WatchTarget],
        target: WatchTarget,
        digest: str = "",
        size: int = -1,
    ) -> bool:
        if decision.cancel and target.native_id not in {t.native_id for t in to_cancel}:
            to_cancel.append(target)
        if decision.state.finished:
            # collect() reads the result file (when the runner wrote one) and then sets the
            # final state, so the state never runs ahead of the result.
            finished.append(Finished(job, decision, outcome, digest, size))
            return True
        return job.set_state(decision.state, decision.reason)


def _jobs_of(unit: Unit) -> Iterable[Job]:
    return unit.jobs.values() if isinstance(unit, ArrayPart) else [unit]


def _fingerprint(obs: Observation, state: JobState) -> tuple[object, ...]:
    return (obs.state, obs.reason, obs.raw, obs.status, obs.cause, obs.dir_missing, state)
