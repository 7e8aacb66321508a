"""A topic of events with subscribers: job changes (:mod:`clusterlab.core.model.events`),
environment builds (:mod:`clusterlab.core.environment.buildevents`). Generic and
stdlib-only, so any layer may publish without importing the others."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

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
