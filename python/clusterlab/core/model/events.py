"""Job events: the watcher publishes, futures, widgets and the comm subscribe.

Callbacks run on the watcher thread and must be quick; a failing subscriber is reported
on stderr once per failure and never stops the watcher or other subscribers.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ...common.states import JobState


@dataclass(frozen=True)
class JobEvent:
    """A job changed state or reason."""

    job_id: str
    profile: str
    state: JobState
    reason: str
    native_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


E = TypeVar("E")


class Topic(Generic[E]):
    """The subscribers of one kind of event (job changes, environment builds): publishers
    never wait on or fail because of a subscriber, whose errors are reported on stderr."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._listeners: list[Callable[[E], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[[E], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every event; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: E) -> None:
        """Deliver ``event`` to every subscriber."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                print(f"clusterlab: {self._what} listener failed:", file=sys.stderr)
                traceback.print_exc()


Listener = Callable[[JobEvent], None]
_jobs: Topic[JobEvent] = Topic("a job event")
subscribe = _jobs.subscribe
publish = _jobs.publish
