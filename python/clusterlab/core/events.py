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
from typing import Any

from ..common.states import JobState


@dataclass(frozen=True)
class JobEvent:
    """A job changed state or reason."""

    job_id: str
    profile: str
    state: JobState
    reason: str
    native_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[JobEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(event)`` for every job event; returns an unsubscribe function."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def publish(event: JobEvent) -> None:
    """Deliver ``event`` to every subscriber."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            print("clusterlab: a job event listener failed:", file=sys.stderr)
            traceback.print_exc()
