"""``runtime.push``: a runtime's view of the status agent of its connection
(:mod:`.agentlink`), which every runtime on that connection started the same way (setup
lines, Python) shares."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ..environment.remote import python_argv
from .agentlink import Push

if TYPE_CHECKING:
    from ...transports.base import Transport
    from ..runtime import Runtime
    from .follow import Follower

DISABLE_VAR = "CLUSTERLAB_PUSH"  # "0": never start the agent (poll only)
_shared: dict[tuple[object, ...], Push] = {}  # (connection, agent command) -> its agent
_shared_lock = threading.Lock()


def shared_agent(transport: Transport, prefix: list[str]) -> Push:
    """The agent of ``transport``'s connection started with ``prefix`` (made on first use):
    every runtime on one connection that starts Python the same way shares it."""
    key = (id(transport), *prefix)
    with _shared_lock:
        push = _shared.get(key)
        if push is None:
            push = _shared[key] = Push(transport, prefix)
        return push


def enabled(runtime: Runtime) -> bool:
    """Push needs the job dirs' status files on the transport's machine (not true for
    Kubernetes, whose pods keep them) and is not needed by the local scheduler (it sees
    its own processes end); CLUSTERLAB_PUSH=0 switches it off."""
    return os.environ.get(DISABLE_VAR, "1") != "0" and runtime.backend.push_status


class PushHandle:
    """A runtime's view of the status agent it shares with every runtime on the same
    connection that starts it the same way (setup lines and Python)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._push: Push | None = None

    @property
    def shared(self) -> Push:
        """The agent of this runtime's connection (made on first use)."""
        if self._push is None:
            rt = self.runtime
            env = rt.environment
            prefix = ["sh", "-c", env.preamble(), "sh", *python_argv(rt.profile, rt.transport)]
            self._push = shared_agent(rt.transport, prefix)
        return self._push

    def watch_many(self, job_dirs: list[str]) -> None:
        """Follow these job dirs' status files from now on (starting the agent if
        needed), in one write to the agent."""
        if enabled(self.runtime) and job_dirs:
            self.shared.watch_many(job_dirs, self.runtime)

    def unwatch(self, job_dir: str) -> None:
        """Stop following ``job_dir`` once no watched unit of this runtime lives in it."""
        if self._push is not None:
            self._push.unwatch(job_dir, self.runtime)

    def follow_logs(self, follower: Follower) -> None:
        """Have ``follower``'s logs pushed where this runtime's agent can (else the watcher
        reads them, as without an agent)."""
        if enabled(self.runtime):
            self.shared.logs.follow(follower, self.runtime)

    def unfollow_logs(self, follower: Follower) -> None:
        if self._push is not None:
            self._push.logs.unfollow(follower)

    def resume_logs(self, follower: Follower, offsets: dict[str, int]) -> None:
        """The watcher read the logs the agent paused, up to ``offsets``: push on."""
        if self._push is not None and offsets:
            self._push.logs.resume(follower, offsets)

    def close(self) -> None:
        """This runtime no longer needs the agent (it stops when no runtime does)."""
        if self._push is not None:
            self._push.detach(self.runtime)

    @property
    def pushing(self) -> bool:
        """Status lines are (or are about to be) pushed: the watcher need not poll."""
        return enabled(self.runtime) and self._push is not None and self._push.pushing

    @property
    def live(self) -> bool:
        return self._push is not None and self._push.live

    @property
    def lines(self) -> int:
        return self._push.lines if self._push is not None else 0

    @property
    def pid(self) -> int | None:
        return self._push.pid if self._push is not None else None

    @property
    def inotify(self) -> bool | None:
        return self._push.inotify if self._push is not None else None

    @property
    def stopped_reason(self) -> str:
        return self._push.stopped_reason if self._push is not None else ""
