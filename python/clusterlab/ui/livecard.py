"""Job and ArrayJob cards that stay true: a card a cell displays is redrawn from job
events (at most twice a second) until the job has settled, instead of the snapshot a
``_repr_html_`` alone would leave ("PENDING" forever).

Registered with IPython's ``ipython_display_formatter`` for the two types when clusterlab
is imported in a kernel, so ``job`` as a cell's last line, ``display(job)`` and
``display(arr)`` all get a live card; anywhere else (a terminal, nbconvert of a saved
notebook) the static HTML is what shows.
"""

from __future__ import annotations

import threading
from typing import Any

from ..core import events
from ..core.array import ArrayJob
from ..core.job import Job

INTERVAL = 0.5  # seconds between two redraws of one card

Target = Job | ArrayJob


class LiveCard:
    """One displayed card, updated in place (same display id) from job events."""

    def __init__(self, target: Target) -> None:
        from IPython.display import HTML, display

        self.target = target
        self.redraws = 0
        self._html = HTML
        self._dirty = threading.Event()
        self.handle: Any = display(HTML(target._repr_html_()), display_id=True)  # type: ignore[no-untyped-call]
        if self._settled():
            return
        self._unsubscribe = events.subscribe(self._on_event)
        threading.Thread(target=self._loop, daemon=True, name="clusterlab-card").start()

    def _settled(self) -> bool:
        return self.target.done()

    def _on_event(self, event: events.JobEvent) -> None:
        mine = (
            event.extra.get("array_id") == self.target.id
            if isinstance(self.target, ArrayJob)
            else event.job_id == self.target.id
        )
        if mine:
            self._dirty.set()

    def _loop(self) -> None:
        while True:
            # an event, or a look every second: a future may be resolved after its event
            self._dirty.wait(timeout=1.0)
            self._dirty.clear()
            settled = self._settled()
            self.handle.update(self._html(self.target._repr_html_()))  # type: ignore[no-untyped-call]
            self.redraws += 1
            if settled:
                self._unsubscribe()
                return
            threading.Event().wait(INTERVAL)


def show(target: Target) -> None:
    """IPython's display hook for Jobs and ArrayJobs."""
    LiveCard(target)


def register(shell: Any) -> None:
    """Make ``shell`` display Jobs and ArrayJobs as live cards."""
    formatter = shell.display_formatter.ipython_display_formatter
    formatter.for_type(Job, show)
    formatter.for_type(ArrayJob, show)
