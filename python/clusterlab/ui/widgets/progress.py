"""A progress bar for an ArrayJob shown in the notebook while it runs (event driven,
redrawn at most twice a second, stops when every item has finished)."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING

import ipywidgets as w

from ...common.style import progress_bar
from ...core import events

if TYPE_CHECKING:
    from ...core.array import ArrayJob

INTERVAL = 0.5


class ArrayProgress:
    """Displays ``array``'s counts as a stacked bar, updated from job events."""

    def __init__(self, array: ArrayJob) -> None:
        self.array = array
        self.widget = w.HTML()
        self.redraws = 0
        self._dirty = threading.Event()
        self._unsubscribe = events.subscribe(self._on_event)
        self.draw()
        threading.Thread(target=self._loop, daemon=True, name="clusterlab-progress").start()

    def _on_event(self, event: events.JobEvent) -> None:
        if event.extra.get("array_id") == self.array.id:
            self._dirty.set()

    def draw(self) -> None:
        a = self.array
        self.widget.value = (
            f"<span class='clusterlab-progress'><code>{html.escape(a.id)}</code> "
            f"{html.escape(a.name)} {progress_bar(a.counts(), len(a))} "
            f"<b>{a.state.value}</b> <small>{html.escape(a.plan)}</small></span>"
        )
        self.redraws += 1

    def _loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            self.draw()
            if self.array.state.finished:
                self._unsubscribe()
                return
            threading.Event().wait(INTERVAL)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (not plain Python, not a terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(array: ArrayJob) -> ArrayProgress:
    from IPython.display import display

    progress = ArrayProgress(array)
    display(progress.widget)  # type: ignore[no-untyped-call]
    return progress
