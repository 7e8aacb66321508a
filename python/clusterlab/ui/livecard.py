"""Job and ArrayJob cards that stay true: a card a cell displays is redrawn from job
events (at most twice a second) until the job has settled, instead of the snapshot a
``_repr_html_`` alone would leave ("PENDING" forever).

Registered with IPython's ``ipython_display_formatter`` for the two types when clusterlab
is imported in a kernel, so ``job`` as a cell's last line, ``display(job)`` and
``display(arr)`` all get a live card; anywhere else (a terminal, nbconvert of a saved
notebook) the static HTML is what shows.
"""

from __future__ import annotations

from typing import Any

from ..core.model import events
from ..core.model.array import ArrayJob
from ..core.model.job import Job
from .redraw import EventRedraw

INTERVAL = 0.5  # seconds between two redraws of one card

Target = Job | ArrayJob


class LiveCard:
    """One displayed card, updated in place (same display id) from job events."""

    def __init__(self, target: Target) -> None:
        from IPython.display import HTML, display

        self.target = target
        self._html = HTML
        self.handle: Any = display(HTML(target._repr_html_()), display_id=True)  # type: ignore[no-untyped-call]
        if not target.done():
            self.redraw = EventRedraw(
                self._mine, self._draw, target.done, INTERVAL, "clusterlab-card"
            )

    def _mine(self, event: events.JobEvent) -> bool:
        if isinstance(self.target, ArrayJob):
            return bool(event.extra.get("array_id") == self.target.id)
        return event.job_id == self.target.id

    def _draw(self) -> None:
        self.handle.update(self._html(self.target._repr_html_()))  # type: ignore[no-untyped-call]


def show(target: Target) -> None:
    """IPython's display hook for Jobs and ArrayJobs."""
    LiveCard(target)


def register(shell: Any) -> None:
    """Make ``shell`` display Jobs and ArrayJobs as live cards."""
    formatter = shell.display_formatter.ipython_display_formatter
    formatter.for_type(Job, show)
    formatter.for_type(ArrayJob, show)
