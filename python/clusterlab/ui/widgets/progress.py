"""A progress bar for an ArrayJob shown in the notebook while it runs (event driven,
redrawn at most twice a second, stops when every item has finished)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as w

from ...common.style import progress_bar
from ..redraw import EventRedraw

if TYPE_CHECKING:
    from ...core.model.array import ArrayJob

INTERVAL = 0.5


class ArrayProgress:
    """Displays ``array``'s counts as a stacked bar, updated from job events."""

    def __init__(self, array: ArrayJob) -> None:
        self.array = array
        self.widget = w.HTML()
        self.draw()
        self.redraw = EventRedraw(
            lambda event: event.extra.get("array_id") == array.id,
            self.draw,
            lambda: array.state.finished,
            INTERVAL,
            "clusterlab-progress",
        )

    def draw(self) -> None:
        a = self.array
        self.widget.value = (
            f"<span class='clusterlab-progress'><code>{html.escape(a.id)}</code> "
            f"{html.escape(a.name)} {progress_bar(a.counts(), len(a))} "
            f"<b>{a.state.value}</b> <small>{html.escape(a.plan)}</small></span>"
        )


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
