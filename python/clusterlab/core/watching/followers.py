"""A watcher's followed jobs (``job.stdout(follow=True)``, ``clusterlab logs -f``): which
of them the status agent pushes and which the watcher's thread reads after each poll.

Pushed where the runtime's agent can take them (:mod:`.agentlogs`); read here when there
is no agent, when the job was followed before its jobs root was known (still being
submitted: handed to the agent once the watcher watches it), or when the agent paused a
log that had more waiting than its per-job cap. After a read the agent is told where to go
on, so nothing is read twice.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from .follow import Follower, read_followed

if TYPE_CHECKING:
    from ..model.job import Job
    from ..runtime import Runtime


class Followers:
    """One watcher's followers (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._followers: list[Follower] = []

    def __bool__(self) -> bool:
        return bool(self._followers)

    def add(self, job: Job, streams: tuple[str, ...]) -> Follower:
        return self.attach(Follower(job, streams))

    def attach(self, follower: Follower) -> Follower:
        """Follow with a follower made by the caller (its own start, byte buffer or
        wake-up event: the lab panel's follow, ui/comm/output.py)."""
        with self._lock:
            self._followers.append(follower)
        self.runtime.push.follow_logs(follower)  # pushed where the agent can
        return follower

    def ended(self, job: Job, sizes: dict[str, int] | None) -> None:
        """The sizes of ``job``'s logs at its end, as the status agent pushed them: its
        followers that read that far need no last read."""
        if sizes is not None:
            with self._lock:
                for follower in self._followers:
                    if follower.job is job:
                        follower.end_sizes = sizes

    def __contains__(self, follower: object) -> bool:
        with self._lock:
            return follower in self._followers

    def remove(self, follower: Follower) -> None:
        with self._lock:
            if follower in self._followers:
                self._followers.remove(follower)
        follower.closed = True  # (before: a concurrent push_waiting must not re-add it)
        self.runtime.push.unfollow_logs(follower)

    def push_waiting(self) -> None:
        """Have the agent push the logs of followers it could not take yet (a job
        followed while it was still being submitted: its jobs root was not known)."""
        with self._lock:
            waiting = [f for f in self._followers if not f.pushed]
        for follower in waiting:
            self.runtime.push.follow_logs(follower)

    def polled(self) -> list[Follower]:
        """The followers whose logs the watcher reads: all of them without an agent
        (running or starting), else those it could not take yet or paused (more waiting
        than its per-job cap)."""
        pushing = self.runtime.push.pushing  # (starting: it sends from their offsets)
        with self._lock:
            return [f for f in self._followers if not (pushing and f.current)]

    def read(self) -> None:
        """Read what the agent does not push (one round trip for all), then move the
        agent on to where the read ended."""
        self.push_waiting()
        followers = self.polled()
        if not followers:
            return
        try:
            read_followed(self.runtime.transport, followers)
        except Exception as exc:  # output is a bonus: the next poll reads it again
            print(f"clusterlab: could not read job output (retrying): {exc}", file=sys.stderr)
            return
        for follower in followers:
            self.runtime.push.resume_logs(follower, follower.caught_up())
