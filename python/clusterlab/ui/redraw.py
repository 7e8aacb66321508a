"""Redraw something shown in the notebook from job events, at most every ``interval``
seconds, until what it shows has settled: the array progress bar and the live job cards
share this loop (one thread each, ended with the job)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..core.model import events


class EventRedraw:
    """Calls ``draw()`` after events ``mine(event)`` accepts, throttled, and once more
    after ``settled()`` turns true (a future may be resolved after its last event)."""

    def __init__(
        self,
        mine: Callable[[events.JobEvent], bool],
        draw: Callable[[], None],
        settled: Callable[[], bool],
        interval: float,
        name: str,
    ) -> None:
        self.redraws = 0
        self._mine, self._draw, self._settled, self._interval = mine, draw, settled, interval
        self._dirty = threading.Event()
        self._unsubscribe = events.subscribe(self._on_event)
        threading.Thread(target=self._loop, daemon=True, name=name).start()

    def _on_event(self, event: events.JobEvent) -> None:
        if self._mine(event):
            self._dirty.set()

    def _loop(self) -> None:
        while True:
            self._dirty.wait(timeout=1.0)  # an event, or a look every second
            self._dirty.clear()
            settled = self._settled()
            self._draw()
            self.redraws += 1
            if settled:
                self._unsubscribe()
                return
            threading.Event().wait(self._interval)
